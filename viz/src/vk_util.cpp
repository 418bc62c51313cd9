#include "vk_util.h"

#if defined(__SANITIZE_ADDRESS__) && defined(__linux__)
#include <dlfcn.h>

#include <fstream>
#include <string>
#endif

namespace moe::viz::detail {

namespace {

// Requirements, allocation and binding for either kind of resource.
template <class Handle, class GetRequirements, class Bind>
VkDeviceMemory allocateFor(VkPhysicalDevice physical, VkDevice device, Handle handle, VkMemoryPropertyFlags want,
                           GetRequirements getRequirements, Bind bind) {
    VkMemoryRequirements req;
    getRequirements(device, handle, &req);
    const int type = findMemoryType(physical, req.memoryTypeBits, want);
    if (type < 0) return VK_NULL_HANDLE;
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = static_cast<std::uint32_t>(type);
    VkDeviceMemory memory = VK_NULL_HANDLE;
    if (vkAllocateMemory(device, &mai, nullptr, &memory) != VK_SUCCESS) return VK_NULL_HANDLE;
    if (bind(device, handle, memory, 0) != VK_SUCCESS) {
        vkFreeMemory(device, memory, nullptr);
        return VK_NULL_HANDLE;
    }
    return memory;
}

}  // namespace

int findMemoryType(VkPhysicalDevice physical, std::uint32_t bits, VkMemoryPropertyFlags want) {
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(physical, &mp);
    for (std::uint32_t i = 0; i < mp.memoryTypeCount; ++i)
        if ((bits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) return static_cast<int>(i);
    return -1;
}

VkDeviceMemory allocateBound(VkPhysicalDevice physical, VkDevice device, VkImage image, VkMemoryPropertyFlags want) {
    return allocateFor(physical, device, image, want, vkGetImageMemoryRequirements, vkBindImageMemory);
}

VkDeviceMemory allocateBound(VkPhysicalDevice physical, VkDevice device, VkBuffer buffer, VkMemoryPropertyFlags want) {
    return allocateFor(physical, device, buffer, want, vkGetBufferMemoryRequirements, vkBindBufferMemory);
}

VkImageCreateInfo image2D(VkFormat format, int width, int height, VkImageTiling tiling, VkImageUsageFlags usage,
                          VkImageLayout initialLayout) {
    VkImageCreateInfo ici{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
    ici.imageType = VK_IMAGE_TYPE_2D;
    ici.format = format;
    ici.extent = {static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height), 1};
    ici.mipLevels = 1;
    ici.arrayLayers = 1;
    ici.samples = VK_SAMPLE_COUNT_1_BIT;
    ici.tiling = tiling;
    ici.usage = usage;
    ici.initialLayout = initialLayout;
    return ici;
}

VkImageView colourView(VkDevice device, VkImage image, VkFormat format) {
    VkImageViewCreateInfo vci{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
    vci.image = image;
    vci.viewType = VK_IMAGE_VIEW_TYPE_2D;
    vci.format = format;
    vci.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    VkImageView view = VK_NULL_HANDLE;
    if (vkCreateImageView(device, &vci, nullptr, &view) != VK_SUCCESS) return VK_NULL_HANDLE;
    return view;
}

void keepVulkanDriversMappedForLeakReports() {
#if defined(__SANITIZE_ADDRESS__) && defined(__linux__)
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        const auto slash = line.find('/');
        if (slash == std::string::npos) continue;
        const std::string path = line.substr(slash);
        if (path.find("/libvulkan_") == std::string::npos) continue;
        // Already loaded: this only adds a reference that is never dropped, and NODELETE.
        dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    }
#endif
}

}  // namespace moe::viz::detail
