#include "vk_memory.h"

namespace moe::viz::detail {

namespace {

VkDeviceMemory allocate(VkPhysicalDevice physical, VkDevice device, const VkMemoryRequirements& req, VkMemoryPropertyFlags want) {
    const int type = findMemoryType(physical, req.memoryTypeBits, want);
    if (type < 0) return VK_NULL_HANDLE;
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = static_cast<std::uint32_t>(type);
    VkDeviceMemory memory = VK_NULL_HANDLE;
    if (vkAllocateMemory(device, &mai, nullptr, &memory) != VK_SUCCESS) return VK_NULL_HANDLE;
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
    VkMemoryRequirements req;
    vkGetImageMemoryRequirements(device, image, &req);
    VkDeviceMemory m = allocate(physical, device, req, want);
    if (m && vkBindImageMemory(device, image, m, 0) != VK_SUCCESS) {
        vkFreeMemory(device, m, nullptr);
        return VK_NULL_HANDLE;
    }
    return m;
}

VkDeviceMemory allocateBound(VkPhysicalDevice physical, VkDevice device, VkBuffer buffer, VkMemoryPropertyFlags want) {
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(device, buffer, &req);
    VkDeviceMemory m = allocate(physical, device, req, want);
    if (m && vkBindBufferMemory(device, buffer, m, 0) != VK_SUCCESS) {
        vkFreeMemory(device, m, nullptr);
        return VK_NULL_HANDLE;
    }
    return m;
}

}  // namespace moe::viz::detail
