//! The counting allocator, registered in this test binary: the CPU device reports the heap
//! bytes a vector holds, and its peak until the next mark.

use happyhorse_tensor::heap::CountingAllocator;
use happyhorse_tensor::Device;

#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator;

const MIB: u64 = 1 << 20;
/// What the test harness may allocate on its other threads meanwhile.
const SLACK: u64 = 64 << 10;

#[test]
fn the_cpu_device_counts_a_vec_while_it_lives_and_its_peak_until_reset() {
    let cpu = Device::Cpu;
    cpu.reset_peak();
    let before = cpu.memory_use();
    assert!(before.counted, "{before:?}");
    assert_eq!(before.peak_bytes, before.live_bytes);

    let v = std::hint::black_box(vec![7u8; MIB as usize]);
    let during = cpu.memory_use();
    let grown = during.live_bytes - before.live_bytes;
    assert!((MIB..MIB + SLACK).contains(&grown), "grew by {grown} bytes");

    drop(v);
    let after = cpu.memory_use();
    assert!(after.live_bytes < before.live_bytes + SLACK, "{after:?}");
    assert!(after.peak_bytes >= before.live_bytes + MIB, "{after:?}");

    cpu.reset_peak();
    let marked = cpu.memory_use();
    assert!(marked.peak_bytes < before.live_bytes + SLACK, "{marked:?}");
}
