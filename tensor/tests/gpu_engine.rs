//! The execution engine of the GPU backend: recorded kernels submitted together with their
//! parameters at dynamic offsets of one arena, pooled buffers reused by size class and
//! bound by the exact bytes a tensor uses, and the counters that show it. Each test opens
//! its own context so that its counters see nothing else.
#![cfg(feature = "gpu")]

mod gpu_common;

use std::sync::Arc;

use gpu_common::{rand, values};
use happyhorse_tensor::gpu::{GpuContext, GpuOptions, GpuStorage};
use happyhorse_tensor::{BinaryOp, Device, Storage, Tensor};

fn own_context() -> (Arc<GpuContext>, Device) {
    let ctx = GpuContext::new(&GpuOptions {
        allow_software: true,
        ..Default::default()
    })
    .unwrap();
    (ctx.clone(), Device::Gpu(ctx))
}

fn gpu_storage(t: &Tensor) -> &GpuStorage {
    match t.storage() {
        Storage::Gpu(g) => g,
        _ => panic!("tensor {:?} is not on the GPU", t.shape()),
    }
}

/// The chain `x·k + x` for k = 1..=n, each step a different parameter block.
fn chain(x: &Tensor, n: usize) -> Tensor {
    let mut y = x.clone();
    for k in 1..=n {
        y = y.scale(k as f32).unwrap().binary(x, BinaryOp::Add).unwrap();
    }
    y
}

#[test]
fn many_kernels_in_one_submission_match_the_cpu_exactly() {
    let (ctx, dev) = own_context();
    let x = rand(&[1000], 7);
    let xg = x.to_device(&dev).unwrap();
    ctx.flush().unwrap();
    let before = ctx.counters();
    let got = chain(&xg, 40);
    let recorded = ctx.counters().since(&before);
    assert_eq!(recorded.dispatches, 80, "two kernels per link");
    assert_eq!(
        recorded.submissions, 0,
        "nothing submitted before a read-back"
    );
    let got = got.to_vec().unwrap();
    let read = ctx.counters().since(&before);
    assert_eq!(
        read.submissions, 1,
        "the kernels and the read-back's copy together"
    );
    assert_eq!(got, chain(&x, 40).to_vec().unwrap());
}

#[test]
fn a_second_identical_round_allocates_nothing() {
    let (ctx, dev) = own_context();
    let x = rand(&[3, 257], 11).to_device(&dev).unwrap();
    let round = || chain(&x, 5).sum(1, false).unwrap().to_vec().unwrap();
    let first = round();
    let before = ctx.counters();
    let second = round();
    let d = ctx.counters().since(&before);
    assert_eq!(first, second);
    assert_eq!(d.allocations, 0, "{d:?}");
    assert_eq!(d.submissions, 1, "{d:?}");
    assert_eq!(d.dispatches, 11, "{d:?}");
}

#[test]
fn buffers_come_in_size_classes_and_bind_the_tensors_bytes() {
    let (ctx, dev) = own_context();
    for (elems, class_bytes) in [(1, 256), (64, 256), (65, 320), (80, 320), (81, 384)] {
        let t = rand(&[elems], 3).to_device(&dev).unwrap();
        let piece = &gpu_storage(&t).pieces()[0];
        assert_eq!(piece.buffer.bytes(), elems as u64 * 4, "{elems} elements");
        assert_eq!(piece.buffer.raw().size(), class_bytes, "{elems} elements");
    }
    // An 80-element buffer, dropped, serves a 65-element tensor: its sum must not read
    // the 15 stale values past the tensor's end.
    let big = Tensor::from_vec(vec![1e6; 80], &[80]).unwrap();
    drop(big.to_device(&dev).unwrap().scale(1.0).unwrap());
    let small = Tensor::from_vec(values(65, 5), &[65]).unwrap();
    let before = ctx.counters();
    let sum = small.to_device(&dev).unwrap().sum(0, false).unwrap();
    assert!(
        ctx.counters().since(&before).allocations <= 1,
        "the 320-byte class is reused"
    );
    let (got, want) = (
        sum.to_vec().unwrap()[0],
        small.sum(0, false).unwrap().to_vec().unwrap()[0],
    );
    assert!(
        (got - want).abs() <= 1e-4,
        "sum {got} on the GPU, {want} on the CPU"
    );
}

#[test]
fn trimming_frees_the_idle_buffers_and_the_next_round_allocates_again() {
    let (ctx, dev) = own_context();
    let x = rand(&[4096], 9).to_device(&dev).unwrap();
    let want = chain(&x, 3).to_vec().unwrap();
    let freed = ctx.trim_pool().unwrap();
    assert!(freed >= 4096 * 4, "freed {freed} bytes");
    let before = ctx.counters();
    assert_eq!(chain(&x, 3).to_vec().unwrap(), want);
    assert!(ctx.counters().since(&before).allocations > 0);
}

#[test]
fn device_memory_counts_each_buffer_by_its_size_class_until_the_pool_is_trimmed() {
    let (ctx, dev) = own_context();
    let base = dev.memory_use();
    assert!(
        base.counted && base.live_bytes > 0,
        "the arena and the dummy: {base:?}"
    );
    // 65 f32 values take the 320-byte class.
    let t = rand(&[65], 1).to_device(&dev).unwrap();
    let held = dev.memory_use();
    assert_eq!(held.live_bytes, base.live_bytes + 320, "{held:?}");
    assert_eq!(held.peak_bytes, held.live_bytes);
    drop(t);
    assert_eq!(
        dev.memory_use().live_bytes,
        base.live_bytes + 320,
        "an idle pooled buffer still holds device memory"
    );
    assert_eq!(ctx.trim_pool().unwrap(), 320);
    let trimmed = dev.memory_use();
    assert_eq!(trimmed.live_bytes, base.live_bytes, "{trimmed:?}");
    assert_eq!(
        trimmed.peak_bytes,
        base.live_bytes + 320,
        "the peak survives"
    );
    dev.reset_peak();
    assert_eq!(dev.memory_use().peak_bytes, base.live_bytes);
}

#[test]
fn trimming_also_gives_back_the_read_back_buffer_and_the_arenas_growth() {
    let (ctx, dev) = own_context();
    let base = dev.memory_use().live_bytes;
    let x = rand(&[4096], 2).to_device(&dev).unwrap();
    // Enough kernels to fill the first arena, and a read-back.
    let y = chain(&x, 3000).to_vec().unwrap();
    assert_eq!(y.len(), 4096);
    drop(x);
    let grown = dev.memory_use().live_bytes;
    assert!(
        grown > base + (256 << 10),
        "the arena grew past its first 256 KiB: {grown}"
    );
    let freed = ctx.trim_pool().unwrap();
    assert_eq!(
        dev.memory_use().live_bytes,
        base,
        "grown to {grown}, freed {freed}"
    );
    assert_eq!(freed, grown - base);
}

#[test]
fn an_upload_into_a_reused_buffer_does_not_overtake_the_kernels_that_read_it() {
    let (ctx, dev) = own_context();
    let a = Tensor::from_vec(vec![2.0; 300], &[300]).unwrap();
    let b = Tensor::from_vec(vec![5.0; 300], &[300]).unwrap();
    let ag = a.to_device(&dev).unwrap();
    ctx.flush().unwrap();
    // Recorded, not yet run: it reads ag's buffer, which returns to the pool at once.
    let doubled = ag.scale(2.0).unwrap();
    drop(ag);
    let bg = b.to_device(&dev).unwrap();
    assert_eq!(doubled.to_vec().unwrap(), vec![4.0; 300]);
    assert_eq!(bg.to_vec().unwrap(), vec![5.0; 300]);
}

#[test]
fn the_profiler_times_every_kernel_and_the_results_are_unchanged() {
    let (ctx, dev) = own_context();
    if !ctx.has_timestamps() {
        return;
    }
    let x = rand(&[500], 13);
    let xg = x.to_device(&dev).unwrap();
    ctx.set_profiling(true);
    let got = chain(&xg, 3).to_vec().unwrap();
    ctx.set_profiling(false);
    let times = ctx.take_kernel_times();
    let timed: u64 = times.values().map(|t| t.count).sum();
    assert_eq!(timed, 6, "{times:?}");
    assert_eq!(got, chain(&x, 3).to_vec().unwrap());
}

#[test]
fn a_vulkan_adapter_reports_the_device_memory_it_offers() {
    let (ctx, _) = own_context();
    if ctx.info().contains("Vulkan") {
        let bytes = ctx.memory_capacity();
        assert!(bytes.is_some_and(|b| b > 0), "{bytes:?}");
        assert!(ctx.info().contains(&format!(
            "memory: {:.0} MiB",
            bytes.unwrap() as f64 / (1 << 20) as f64
        )));
    }
}
