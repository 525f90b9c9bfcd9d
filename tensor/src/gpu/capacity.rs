//! How much device memory an adapter offers: on Vulkan, the largest device-local heap (its
//! budget for this process under `VK_EXT_memory_budget`, else its size); unknown on other
//! backends.

/// The bytes of device memory `adapter` offers, when its backend says.
pub(crate) fn memory_capacity(adapter: &wgpu::Adapter) -> Option<u64> {
    #[cfg(not(target_vendor = "apple"))]
    if adapter.get_info().backend == wgpu::Backend::Vulkan {
        return vulkan::device_local_bytes(adapter);
    }
    let _ = adapter;
    None
}

#[cfg(not(target_vendor = "apple"))]
mod vulkan {
    use ash::vk;

    /// The largest device-local heap of a Vulkan adapter: its budget where the physical
    /// device has `VK_EXT_memory_budget` (and the instance Vulkan 1.1), else its size.
    pub(super) fn device_local_bytes(adapter: &wgpu::Adapter) -> Option<u64> {
        // SAFETY: the hal adapter is only read (its instance and physical device handles)
        // while the guard lives; nothing is created or destroyed through it.
        let hal = unsafe { adapter.as_hal::<wgpu::hal::api::Vulkan>() }?;
        let shared = hal.shared_instance();
        let instance = shared.raw_instance();
        let physical = hal.raw_physical_device();
        let has_budget = shared.instance_api_version() >= vk::API_VERSION_1_1
            && hal
                .physical_device_capabilities()
                .supports_extension(ash::ext::memory_budget::NAME);
        let mut budget = vk::PhysicalDeviceMemoryBudgetPropertiesEXT::default();
        let heaps = if has_budget {
            let mut props = vk::PhysicalDeviceMemoryProperties2::default().push_next(&mut budget);
            // SAFETY: `physical` belongs to `instance`, which is Vulkan 1.1 or later, and
            // the chained budget struct is the one the extension defines.
            unsafe { instance.get_physical_device_memory_properties2(physical, &mut props) };
            props.memory_properties
        } else {
            // SAFETY: `physical` belongs to `instance`.
            unsafe { instance.get_physical_device_memory_properties(physical) }
        };
        heaps
            .memory_heaps_as_slice()
            .iter()
            .enumerate()
            .filter(|(_, heap)| heap.flags.contains(vk::MemoryHeapFlags::DEVICE_LOCAL))
            .map(|(i, heap)| {
                if has_budget && budget.heap_budget[i] > 0 {
                    budget.heap_budget[i]
                } else {
                    heap.size
                }
            })
            .max()
            .filter(|&bytes| bytes > 0)
    }
}
