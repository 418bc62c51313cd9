#pragma once
// Small Vulkan helpers shared by the offscreen renderer and the grid renderer: device memory for
// one image or buffer (a memory type with the wanted properties, allocated and bound), and the
// plain 2-D colour images both create.

#include <vulkan/vulkan.h>

#include <cstdint>

namespace moe::viz::detail {

// -1 when no memory type allowed by `bits` has all of `want`.
int findMemoryType(VkPhysicalDevice physical, std::uint32_t bits, VkMemoryPropertyFlags want);

// VK_NULL_HANDLE when there is no such memory or the allocation fails.
VkDeviceMemory allocateBound(VkPhysicalDevice physical, VkDevice device, VkImage image, VkMemoryPropertyFlags want);
VkDeviceMemory allocateBound(VkPhysicalDevice physical, VkDevice device, VkBuffer buffer, VkMemoryPropertyFlags want);

// A single-sample, single-level 2-D image of `width` x `height`.
VkImageCreateInfo image2D(VkFormat format, int width, int height, VkImageTiling tiling, VkImageUsageFlags usage,
                          VkImageLayout initialLayout);
// A colour view of all of `image`; VK_NULL_HANDLE when it cannot be made.
VkImageView colourView(VkDevice device, VkImage image, VkFormat format);

// Under AddressSanitizer only (elsewhere it does nothing): keeps the Vulkan drivers the loader has
// mapped (libvulkan_*.so) in memory until the process ends, so that LeakSanitizer's report at
// exit can name the driver of what it keeps for ever (tests/sanitizers/lsan.supp) instead of an
// "<unknown module>" the loader unloaded at vkDestroyInstance. Call after vkCreateInstance.
void keepVulkanDriversMappedForLeakReports();

}  // namespace moe::viz::detail
