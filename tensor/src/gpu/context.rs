//! The wgpu adapter, device and queue, the pipeline cache, the buffer pools, the recorder
//! of pending work, the counters and error capture.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use super::counters::Counters;
use super::pool::{size_class, BufferPool, GpuBuffer, EXACT_ABOVE};
use super::record::Recorder;
use crate::memory::{Held, MemoryUse, Meter};
use crate::{bail, DType, Error, GpuCounters, Precision, Result};

/// How to open a [`GpuContext`].
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Accept a software adapter (lavapipe, WARP, SwiftShader); otherwise only hardware.
    pub allow_software: bool,
    /// Caps the bytes of one storage binding below the device's own limit (to exercise the
    /// splitting of large weights cheaply). `None` uses the device limit, or the env var
    /// `HAPPYHORSE_GPU_MAX_BINDING` when set.
    pub max_binding_bytes: Option<u64>,
    /// How activations are stored between kernels; f16 needs the adapter's `SHADER_F16`.
    pub precision: Precision,
}

/// A wgpu device seen with one activation precision: every GPU tensor holds one, and its
/// ops store their results by its precision. Views of one device with different
/// precisions ([`GpuContext::with_precision`]) share the device, its buffers and its
/// pending work, so their tensors mix freely.
pub struct GpuContext {
    core: Arc<GpuCore>,
    precision: Precision,
}

impl Deref for GpuContext {
    type Target = GpuCore;

    fn deref(&self) -> &GpuCore {
        &self.core
    }
}

/// One wgpu device with its queue, the compiled pipelines, the buffer pools and the
/// pending work.
pub struct GpuCore {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    /// The device memory the adapter offers, read when the device opened.
    capacity: Option<u64>,
    limits: wgpu::Limits,
    features: wgpu::Features,
    gemm: super::gemm::GemmChoice,
    max_binding: u64,
    pipelines: Mutex<HashMap<String, Arc<Pipeline>>>,
    errors: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    pub(crate) profiler: super::profile::Profiler,
    /// A small buffer bound where a kernel's optional operand is absent.
    pub(crate) dummy: GpuBuffer,
    pool: Arc<BufferPool>,
    pub(crate) recorder: Mutex<Recorder>,
    pub(crate) counters: Counters,
    /// The mapped buffer read-backs go through, kept between them.
    pub(crate) readback: Mutex<Option<wgpu::Buffer>>,
    /// The bytes of every buffer this device holds: pooled (busy or idle), the arena, the
    /// read-back, the dummy and the query buffers.
    memory: Meter,
}

/// A compiled compute pipeline and its bind group layout.
pub(crate) struct Pipeline {
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) layout: wgpu::BindGroupLayout,
}

fn is_software(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
        || [
            "llvmpipe",
            "lavapipe",
            "swiftshader",
            "warp",
            "microsoft basic",
        ]
        .iter()
        .any(|s| info.name.to_lowercase().contains(s))
}

/// The GEMM path of `adapter` and the features to open its device with: timestamps, f16
/// shaders and subgroups where offered, cooperative matrices (experimental in wgpu) only
/// when the GEMM path uses them.
fn device_features(
    adapter: &wgpu::Adapter,
    limits: &wgpu::Limits,
) -> (
    super::gemm::GemmChoice,
    wgpu::Features,
    wgpu::ExperimentalFeatures,
) {
    let wanted = wgpu::Features::TIMESTAMP_QUERY
        | wgpu::Features::SHADER_F16
        | wgpu::Features::SUBGROUP
        | wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
    let offered = adapter.features() & wanted;
    let gemm = super::gemm::choose(&super::gemm::GemmAdapter {
        features: offered,
        cooperative: adapter.cooperative_matrix_properties(),
        workgroup_bytes: limits.max_compute_workgroup_storage_size,
        invocations: limits.max_compute_invocations_per_workgroup,
    });
    let mut features = offered;
    if !matches!(gemm.path, super::gemm::GemmPath::Cooperative(_)) {
        features.remove(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX);
    }
    let experimental = if features.intersects(wgpu::Features::all_experimental_mask()) {
        // SAFETY: the only experimental feature requested is cooperative matrices, used by
        // one kernel (`gemm_coop.wgsl`) whose every variant the test suite validates with
        // naga.
        unsafe { wgpu::ExperimentalFeatures::enabled() }
    } else {
        wgpu::ExperimentalFeatures::disabled()
    };
    (gemm, features, experimental)
}

impl GpuContext {
    /// Opens the best adapter of the backends allowed by `WGPU_BACKEND` (all by default):
    /// a discrete GPU first, then an integrated one, then (if allowed) a software one.
    pub fn new(opts: &GpuOptions) -> Result<Arc<GpuContext>> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        let rank = |a: &wgpu::Adapter| {
            let i = a.get_info();
            match i.device_type {
                _ if is_software(&i) => 3,
                wgpu::DeviceType::DiscreteGpu => 0,
                wgpu::DeviceType::IntegratedGpu => 1,
                _ => 2,
            }
        };
        let seen: Vec<String> = adapters
            .iter()
            .map(|a| {
                let i = a.get_info();
                format!("{} ({:?})", i.name, i.backend)
            })
            .collect();
        let adapter = adapters
            .into_iter()
            .filter(|a| opts.allow_software || !is_software(&a.get_info()))
            .filter(|a| a.get_info().backend != wgpu::Backend::Noop)
            .min_by_key(rank);
        let Some(adapter) = adapter else {
            if seen.is_empty() {
                bail!("no GPU adapter found (WGPU_BACKEND={:?}); install a Vulkan, Metal or DX12 driver, or Mesa's lavapipe for a software one", std::env::var("WGPU_BACKEND").unwrap_or_default());
            }
            bail!("no hardware GPU adapter found (only {}); a software adapter is used only when the GPU is forced", seen.join(", "));
        };
        Self::open(adapter, opts)
    }

    fn open(adapter: wgpu::Adapter, opts: &GpuOptions) -> Result<Arc<GpuContext>> {
        let info = adapter.get_info();
        let capacity = super::capacity::memory_capacity(&adapter);
        let limits = adapter.limits();
        let (gemm, features, experimental) = device_features(&adapter, &limits);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("happyhorse"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: experimental,
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::msg(format!("cannot open GPU device {}: {e}", info.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().unwrap().push(e.to_string());
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            *lost_sink.lock().unwrap() = Some(format!("{reason:?}: {msg}"));
        });
        let env_cap = std::env::var("HAPPYHORSE_GPU_MAX_BINDING")
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        let device_cap = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        // Keep bindings word-aligned and below 4 GiB so every u32 word index fits.
        let max_binding = opts
            .max_binding_bytes
            .or(env_cap)
            .unwrap_or(device_cap)
            .min(device_cap)
            .min(u32::MAX as u64)
            & !3;
        if max_binding < 16 {
            bail!("GPU binding cap of {max_binding} bytes is too small");
        }
        let dummy = GpuBuffer::unpooled(device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dummy"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        }));
        let recorder = Recorder::new(&device);
        let memory = Meter::new();
        memory.grow(dummy.raw().size() + recorder.device_bytes());
        let profiler = super::profile::Profiler::new(
            features.contains(wgpu::Features::TIMESTAMP_QUERY),
            queue.get_timestamp_period(),
        );
        let core = Arc::new(GpuCore {
            device,
            queue,
            info,
            capacity,
            limits,
            features,
            gemm,
            max_binding,
            pipelines: Mutex::new(HashMap::new()),
            errors,
            lost,
            profiler,
            dummy,
            pool: Arc::new(BufferPool::default()),
            recorder: Mutex::new(recorder),
            counters: Counters::default(),
            readback: Mutex::new(None),
            memory,
        });
        let f32_view = GpuContext {
            core,
            precision: Precision::F32,
        };
        f32_view.with_precision(opts.precision)
    }

    /// A process-wide context with f32 activations (opened once): hardware only unless
    /// `allow_software`.
    pub fn shared(allow_software: bool) -> Result<Arc<GpuContext>> {
        static HW: OnceLock<std::result::Result<Arc<GpuContext>, String>> = OnceLock::new();
        static ANY: OnceLock<std::result::Result<Arc<GpuContext>, String>> = OnceLock::new();
        let cell = if allow_software { &ANY } else { &HW };
        cell.get_or_init(|| {
            GpuContext::new(&GpuOptions {
                allow_software,
                ..Default::default()
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(Error::msg)
    }

    /// This device seen with `precision` activations; f16 needs the adapter's `SHADER_F16`.
    pub fn with_precision(&self, precision: Precision) -> Result<Arc<GpuContext>> {
        if precision == Precision::F16 && !self.has_shader_f16() {
            bail!(
                "f16 activations need the SHADER_F16 feature, which GPU {} ({:?}) does not offer; use f32",
                self.info.name,
                self.info.backend
            );
        }
        Ok(Arc::new(GpuContext {
            core: self.core.clone(),
            precision,
        }))
    }

    /// Whether `other` is a view of the same wgpu device (whatever its precision).
    pub fn same_device(&self, other: &GpuContext) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }

    /// How this context stores activations between kernels.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Whether the adapter offers `SHADER_F16` (f16 values in shaders).
    pub fn has_shader_f16(&self) -> bool {
        self.features.contains(wgpu::Features::SHADER_F16)
    }

    /// The dtype a kernel stores its result in when the result follows its activation
    /// inputs `inputs`: f16 when this context keeps half-precision activations and every
    /// input is f16 (mixing in an f32 operand, as the residual stream does, promotes to
    /// f32), else f32.
    pub(crate) fn result_dtype(&self, inputs: &[DType]) -> DType {
        let half = self.precision == Precision::F16 && inputs.iter().all(|&d| d == DType::F16);
        if half {
            DType::F16
        } else {
            DType::F32
        }
    }

    /// The adapter's name (for example "NVIDIA H100" or "llvmpipe (LLVM 19.1.7, 256 bits)").
    pub fn adapter_name(&self) -> &str {
        &self.info.name
    }

    /// Whether the adapter is a software rasteriser (lavapipe and the like).
    pub fn is_software(&self) -> bool {
        is_software(&self.info)
    }

    /// The device memory the adapter offers, in bytes, when its backend says: on Vulkan
    /// the largest device-local heap (its budget under `VK_EXT_memory_budget`, else its
    /// size), read when the device opened; `None` elsewhere.
    pub fn memory_capacity(&self) -> Option<u64> {
        self.capacity
    }

    /// The largest storage binding this context uses, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.max_binding
    }

    /// The device limits in force.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The GEMM path of this adapter and why.
    pub fn gemm_choice(&self) -> &super::gemm::GemmChoice {
        &self.gemm
    }

    /// Whether timestamp queries (per-kernel times) are available.
    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// A multi-line description: adapter, backend, driver, key limits, features, the GEMM
    /// path and the activation precision.
    pub fn info(&self) -> String {
        let i = &self.info;
        let l = &self.limits;
        let mib = |b: u64| format!("{:.0} MiB", b as f64 / (1 << 20) as f64);
        format!(
            "adapter: {} ({:?}, {:?})\ndriver: {} {}\nmemory: {}\nmax_buffer_size: {}\nmax_storage_buffer_binding_size: {} (used: {})\nmax_compute_workgroup_storage_size: {} bytes\nmax_compute_invocations_per_workgroup: {}\nmax_compute_workgroups_per_dimension: {}\nsubgroup size: {}..{}\nfeatures: SHADER_F16={} TIMESTAMP_QUERY={} SUBGROUP={} EXPERIMENTAL_COOPERATIVE_MATRIX={}\ngemm: {}\nactivations: {}",
            i.name,
            i.backend,
            i.device_type,
            i.driver,
            i.driver_info,
            self.capacity
                .map_or("unknown (the backend does not say)".to_string(), mib),
            mib(l.max_buffer_size),
            mib(l.max_storage_buffer_binding_size),
            mib(self.max_binding),
            l.max_compute_workgroup_storage_size,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroups_per_dimension,
            i.subgroup_min_size,
            i.subgroup_max_size,
            self.features.contains(wgpu::Features::SHADER_F16),
            self.features.contains(wgpu::Features::TIMESTAMP_QUERY),
            self.features.contains(wgpu::Features::SUBGROUP),
            self.features
                .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX),
            self.gemm,
            self.precision,
        )
    }

    /// Errors if the device was lost or a wgpu error was reported since the last check.
    pub(crate) fn check(&self, what: &str) -> Result<()> {
        if let Some(msg) = self.lost.lock().unwrap().clone() {
            bail!(
                "GPU device {} was lost ({msg}) during {what}",
                self.info.name
            );
        }
        let errs: Vec<String> = std::mem::take(&mut *self.errors.lock().unwrap());
        if !errs.is_empty() {
            bail!("GPU error during {what}: {}", errs.join("; "));
        }
        Ok(())
    }

    /// The cached pipeline of `key`, compiled from `source` on first use.
    pub(crate) fn pipeline(
        &self,
        key: &str,
        source: impl FnOnce() -> String,
        bindings: &[bool],
    ) -> Result<Arc<Pipeline>> {
        if let Some(p) = self.pipelines.lock().unwrap().get(key) {
            return Ok(p.clone());
        }
        let source = source();
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(key),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: None,
            },
            count: None,
        }];
        for (i, &read_only) in bindings.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(key),
                entries: &entries,
            });
        let pl = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(key),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(key),
                layout: Some(&pl),
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            bail!("GPU kernel {key} failed to compile: {e}");
        }
        let p = Arc::new(Pipeline { pipeline, layout });
        self.pipelines
            .lock()
            .unwrap()
            .insert(key.to_string(), p.clone());
        Ok(p)
    }

    /// A storage buffer for `bytes` (rounded up to a word) from the pools, created when no
    /// idle buffer of its size class is left (then emptying the pools and retrying once if
    /// the device is out of memory), with a clear error when it exceeds a binding or the
    /// device's memory.
    pub(crate) fn alloc(&self, bytes: u64, what: &str) -> Result<GpuBuffer> {
        let used = (bytes.max(4) + 3) & !3;
        if used > self.max_binding {
            bail!(
                "{what} needs {used} bytes in one GPU binding, more than the {} this device allows",
                self.max_binding
            );
        }
        let size = self.buffer_bytes(bytes);
        if let Some(buf) = self.pool.take(size) {
            return Ok(GpuBuffer::pooled(buf, used, &self.pool));
        }
        let buf = match self.create_storage(size, what) {
            Ok(buf) => buf,
            Err(_) if self.pool.idle_bytes() > 0 => {
                self.trim_pool()?;
                self.create_storage(size, what)?
            }
            Err(e) => return Err(e),
        };
        self.count_created(size);
        Ok(GpuBuffer::pooled(buf, used, &self.pool))
    }

    /// The bytes of the buffer a tensor of `bytes` bytes takes (a word multiple, rounded up
    /// to its pool's size class unless it is large).
    pub fn buffer_bytes(&self, bytes: u64) -> u64 {
        let used = (bytes.max(4) + 3) & !3;
        if used > EXACT_ABOVE {
            used
        } else {
            size_class(used, self.max_binding)
        }
    }

    /// A new storage buffer of `size` bytes.
    fn create_storage(&self, size: u64, what: &str) -> Result<wgpu::Buffer> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            bail!(
                "allocating {size} bytes on GPU {} for {what} failed: {e}",
                self.info.name
            );
        }
        Ok(buf)
    }

    /// Drops the idle buffers of the pools, the read-back buffer, and the arena's growth
    /// (at the end of a phase whose tensors are gone), returning the bytes freed. The
    /// pending work is submitted first.
    pub fn trim_pool(&self) -> Result<u64> {
        let mut rec = self.recorder.lock().unwrap();
        self.submit(&mut rec)?;
        rec.forget_bind_groups();
        let arena_freed = rec.shrink_arena(&self.device);
        drop(rec);
        if arena_freed > 0 {
            Counters::add(&self.counters.allocations, 1);
        }
        let readback_freed = self.readback.lock().unwrap().take().map_or(0, |b| b.size());
        let freed = self.pool.trim() + arena_freed + readback_freed;
        self.memory.shrink(freed);
        Ok(freed)
    }

    /// Counts a device buffer of `bytes` created.
    pub(crate) fn count_created(&self, bytes: u64) {
        Counters::add(&self.counters.allocations, 1);
        self.memory.grow(bytes);
    }

    /// Counts a device buffer of `bytes` destroyed.
    pub(crate) fn count_released(&self, bytes: u64) {
        self.memory.shrink(bytes);
    }

    /// Counts `bytes` of device buffers held until the returned guard drops.
    pub(crate) fn hold(&self, bytes: u64) -> Held<'_> {
        self.memory.hold(bytes)
    }

    /// The device bytes held now (every buffer, idle pooled ones included) and at most
    /// since the last [`GpuCore::reset_peak`].
    pub fn memory_use(&self) -> MemoryUse {
        self.memory.usage()
    }

    /// Sets the peak of [`GpuCore::memory_use`] to the bytes held now.
    pub fn reset_peak(&self) {
        self.memory.reset_peak();
    }

    /// The counters so far (cumulative since the context opened).
    pub fn counters(&self) -> GpuCounters {
        self.counters.snapshot()
    }

    /// Submits the pending work and blocks until it is done, reporting any GPU error.
    pub fn synchronize(&self) -> Result<()> {
        self.wait("synchronize")
    }

    /// Submits the pending work and blocks until it is done.
    pub(crate) fn wait(&self, what: &str) -> Result<()> {
        self.submit(&mut self.recorder.lock().unwrap())?;
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::msg(format!("GPU wait during {what} failed: {e}")))?;
        self.check(what)
    }
}
