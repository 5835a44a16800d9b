//! Links the genstage core into a `#![no_std]` staticlib with no allocator.
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Touches the core so that it is really linked.
#[unsafe(no_mangle)]
pub extern "C" fn genstage_default_max_demand() -> usize {
    genstage::DEFAULT_MAX_DEMAND
}
