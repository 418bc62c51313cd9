#pragma once
// Device memory for one image or buffer: a memory type with the wanted properties, allocated
// and bound. Shared by the offscreen renderer and the grid renderer.

#include <vulkan/vulkan.h>

#include <cstdint>

namespace moe::viz::detail {

// -1 when no memory type allowed by `bits` has all of `want`.
int findMemoryType(VkPhysicalDevice physical, std::uint32_t bits, VkMemoryPropertyFlags want);

// VK_NULL_HANDLE when there is no such memory or the allocation fails.
VkDeviceMemory allocateBound(VkPhysicalDevice physical, VkDevice device, VkImage image, VkMemoryPropertyFlags want);
VkDeviceMemory allocateBound(VkPhysicalDevice physical, VkDevice device, VkBuffer buffer, VkMemoryPropertyFlags want);

}  // namespace moe::viz::detail
