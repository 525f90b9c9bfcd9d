//! Builders of small synthetic weight files: stored zip archives (zip64 too),
//! PyTorch-style pickles and GGUF files, for the reader tests and the fuzz harness; fresh
//! scratch directories for the tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// An empty directory `name` (unique to this process) under the test target's scratch
/// directory (the system's temporary directory outside the tests).
pub fn temp_dir(name: &str) -> PathBuf {
    let scratch = option_env!("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = scratch.join(format!("happyhorse-io-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a zip archive whose entries are all stored; `zip64` adds the zip64 records and
/// saturates the 32-bit fields, as writers do for archives over 4 GiB.
pub fn zip_stored(entries: &[(&str, &[u8])], zip64: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u64;
        let crc = crc32fast::hash(data);
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        let (size32, offset32) = if zip64 {
            (u32::MAX, u32::MAX)
        } else {
            (data.len() as u32, offset as u32)
        };
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size32.to_le_bytes());
        central.extend_from_slice(&size32.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&(if zip64 { 28u16 } else { 0 }).to_le_bytes());
        central.extend_from_slice(&[0; 10]);
        central.extend_from_slice(&offset32.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
        if zip64 {
            central.extend_from_slice(&1u16.to_le_bytes());
            central.extend_from_slice(&24u16.to_le_bytes());
            central.extend_from_slice(&(data.len() as u64).to_le_bytes());
            central.extend_from_slice(&(data.len() as u64).to_le_bytes());
            central.extend_from_slice(&offset.to_le_bytes());
        }
    }
    let cd_offset = out.len() as u64;
    out.extend_from_slice(&central);
    let n = entries.len() as u64;
    if zip64 {
        let eocd64 = out.len() as u64;
        out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(central.len() as u64).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&eocd64.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    let (n16, size32, off32) = if zip64 {
        (u16::MAX, u32::MAX, u32::MAX)
    } else {
        (n as u16, central.len() as u32, cd_offset as u32)
    };
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&n16.to_le_bytes());
    out.extend_from_slice(&n16.to_le_bytes());
    out.extend_from_slice(&size32.to_le_bytes());
    out.extend_from_slice(&off32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A protocol-2 pickle under construction.
#[derive(Default)]
pub struct Pickler {
    /// The stream so far.
    pub out: Vec<u8>,
}

impl Pickler {
    /// Starts a stream with PROTO 2.
    pub fn new() -> Pickler {
        Pickler { out: vec![0x80, 2] }
    }
    /// Appends raw opcode bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }
    /// BINUNICODE.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.out.push(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
        self
    }
    /// An int (BININT).
    pub fn int(&mut self, i: i32) -> &mut Self {
        self.out.push(b'J');
        self.out.extend_from_slice(&i.to_le_bytes());
        self
    }
    /// GLOBAL module name.
    pub fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.out.push(b'c');
        self.out
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        self
    }
    /// A tuple of ints.
    pub fn int_tuple(&mut self, items: &[usize]) -> &mut Self {
        self.out.push(b'(');
        for &i in items {
            self.int(i as i32);
        }
        self.out.push(b't');
        self
    }
    /// `_rebuild_tensor_v2(('storage', torch.<ty>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`.
    pub fn tensor(
        &mut self,
        storage_type: &str,
        key: &str,
        numel: usize,
        offset: usize,
        size: &[usize],
        stride: &[usize],
    ) -> &mut Self {
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.out.push(b'(');
        self.out.push(b'(');
        self.str("storage")
            .global("torch", storage_type)
            .str(key)
            .str("cpu");
        self.int(numel as i32);
        self.out.extend_from_slice(b"tQ");
        self.int(offset as i32).int_tuple(size).int_tuple(stride);
        self.out.push(0x89);
        self.global("collections", "OrderedDict");
        self.out.extend_from_slice(b")R");
        self.out.extend_from_slice(b"tR");
        self
    }
    /// Ends the stream with STOP.
    pub fn stop(&mut self) -> Vec<u8> {
        self.out.push(b'.');
        std::mem::take(&mut self.out)
    }
}

/// One tensor of a synthetic checkpoint: name, storage type, storage bytes, element
/// offset, size, stride.
pub struct TorchTensor<'a> {
    pub name: &'a str,
    pub storage_type: &'a str,
    pub storage: &'a [u8],
    pub offset: usize,
    pub size: &'a [usize],
    pub stride: &'a [usize],
}

impl<'a> TorchTensor<'a> {
    /// Tensor `name` over `storage` of `storage_type`: `size` elements from element
    /// `offset`, `stride` apart.
    pub fn new(
        name: &'a str,
        storage_type: &'a str,
        storage: &'a [u8],
        offset: usize,
        size: &'a [usize],
        stride: &'a [usize],
    ) -> TorchTensor<'a> {
        TorchTensor {
            name,
            storage_type,
            storage,
            offset,
            size,
            stride,
        }
    }
}

/// The pickle of `{name: tensor, ...}`, each tensor over its own storage key `i`.
pub fn state_dict_pickle(p: &mut Pickler, tensors: &[TorchTensor]) {
    p.raw(b"}(");
    for (i, t) in tensors.iter().enumerate() {
        let es = match t.storage_type {
            "FloatStorage" | "IntStorage" => 4,
            "HalfStorage" | "BFloat16Storage" => 2,
            "DoubleStorage" | "LongStorage" => 8,
            _ => 1,
        };
        p.str(t.name).tensor(
            t.storage_type,
            &i.to_string(),
            t.storage.len() / es,
            t.offset,
            t.size,
            t.stride,
        );
    }
    p.raw(b"u");
}

/// A `torch.save`-style archive holding `pickle` as `archive/data.pkl` and each
/// storage as `archive/data/<i>`.
pub fn torch_zip(pickle: &[u8], storages: &[&[u8]], zip64: bool) -> Vec<u8> {
    let names: Vec<String> = (0..storages.len())
        .map(|i| format!("archive/data/{i}"))
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("archive/data.pkl", pickle),
        ("archive/byteorder", b"little"),
    ];
    for (name, data) in names.iter().zip(storages) {
        entries.push((name, data));
    }
    entries.push(("archive/version", b"3\n"));
    zip_stored(&entries, zip64)
}

/// A checkpoint `{tensors...}` (or `{wrap: {tensors...}}`) as a torch zip archive.
pub fn torch_checkpoint(tensors: &[TorchTensor], wrap: Option<&str>, zip64: bool) -> Vec<u8> {
    let mut p = Pickler::new();
    if let Some(key) = wrap {
        p.raw(b"}").str(key);
    }
    state_dict_pickle(&mut p, tensors);
    if wrap.is_some() {
        p.raw(b"s");
    }
    let pickle = p.stop();
    let storages: Vec<&[u8]> = tensors.iter().map(|t| t.storage).collect();
    torch_zip(&pickle, &storages, zip64)
}

/// `n` f32 values 0.5, 1.5, … as little-endian bytes.
pub fn f32_bytes(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| (i as f32 + 0.5).to_le_bytes())
        .collect()
}

/// A GGUF string: u64 length, then the bytes.
pub fn gguf_str(s: &[u8]) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(s);
    out
}

/// One tensor of a synthetic GGUF file.
pub struct GgufTensor {
    /// Name bytes (not necessarily UTF-8).
    pub name: Vec<u8>,
    /// Dimensions, innermost first; their count is written as n_dims.
    pub dims: Vec<u64>,
    /// ggml type number.
    pub ty: u32,
    /// Stored bytes.
    pub data: Vec<u8>,
    /// Offset in the data section; `None` places it after the previous tensor, aligned.
    pub offset: Option<u64>,
}

/// A GGUF file under construction: header fields, metadata entries as raw bytes, tensors.
pub struct GgufBuilder {
    /// Version field.
    pub version: u32,
    /// `(key bytes, value type, value bytes)` in file order.
    pub metadata: Vec<(Vec<u8>, u32, Vec<u8>)>,
    /// Tensor infos and data in file order.
    pub tensors: Vec<GgufTensor>,
    /// Alignment the builder places the data section and offsets at.
    pub alignment: u64,
}

impl Default for GgufBuilder {
    fn default() -> GgufBuilder {
        GgufBuilder {
            version: 3,
            metadata: Vec::new(),
            tensors: Vec::new(),
            alignment: 32,
        }
    }
}

impl GgufBuilder {
    /// A metadata entry of value type `ty` with `value` as its raw bytes.
    pub fn kv(&mut self, key: &str, ty: u32, value: Vec<u8>) -> &mut Self {
        self.metadata.push((key.as_bytes().to_vec(), ty, value));
        self
    }

    /// A u32 metadata entry.
    pub fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.kv(key, 4, v.to_le_bytes().to_vec())
    }

    /// A string metadata entry.
    pub fn kv_str(&mut self, key: &str, v: &str) -> &mut Self {
        self.kv(key, 8, gguf_str(v.as_bytes()))
    }

    /// A tensor of ggml type `ty` with dims innermost first, placed after the previous one.
    pub fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, data: Vec<u8>) -> &mut Self {
        self.tensors.push(GgufTensor {
            name: name.as_bytes().to_vec(),
            dims: dims.to_vec(),
            ty,
            data,
            offset: None,
        });
        self
    }

    /// The file's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, ty, value) in &self.metadata {
            out.extend_from_slice(&gguf_str(key));
            out.extend_from_slice(&ty.to_le_bytes());
            out.extend_from_slice(value);
        }
        let mut data = Vec::new();
        for t in &self.tensors {
            let offset = t
                .offset
                .unwrap_or_else(|| (data.len() as u64).next_multiple_of(self.alignment));
            out.extend_from_slice(&gguf_str(&t.name));
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.ty.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            let end = offset as usize + t.data.len();
            if data.len() < end {
                data.resize(end, 0);
            }
            data[offset as usize..end].copy_from_slice(&t.data);
        }
        out.resize(
            (out.len() as u64).next_multiple_of(self.alignment) as usize,
            0,
        );
        out.extend_from_slice(&data);
        out
    }
}

/// A small valid GGUF file: metadata of several value types, an F32, a Q8_0 and a Q4_0
/// tensor.
pub fn small_gguf() -> Vec<u8> {
    let mut b = GgufBuilder::default();
    b.kv_str("general.architecture", "test")
        .kv_u32("general.alignment", 32)
        .kv("flag", 7, vec![1])
        .kv("scale", 6, 0.5f32.to_le_bytes().to_vec());
    let mut words = 8u32.to_le_bytes().to_vec();
    words.extend_from_slice(&2u64.to_le_bytes());
    words.extend(gguf_str(b"a"));
    words.extend(gguf_str(b"bc"));
    b.kv("words", 9, words);
    let mut q8 = Vec::new();
    for block in 0..2u8 {
        q8.extend_from_slice(&half::f16::from_f32(0.25).to_le_bytes());
        q8.extend((0..32).map(|i| (i as i8 - 16 + block as i8) as u8));
    }
    let mut q4 = half::f16::from_f32(2.0).to_le_bytes().to_vec();
    q4.extend((0..16u8).map(|i| i | (15 - i) << 4));
    b.tensor("w.f32", &[3, 2], 0, f32_bytes(6))
        .tensor("w.q8_0", &[32, 2], 8, q8)
        .tensor("w.q4_0", &[32], 2, q4);
    b.build()
}
