//! Writing made-up tensors as a PyTorch checkpoint (`torch.save`'s zip archive): stored
//! entries `<stem>/data.pkl`, `<stem>/data/<i>` (each aligned to 64 bytes in the file, as
//! torch aligns them), the format records, tensor by tensor in bounded chunks.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use happyhorse_formats::write_atomically;
use happyhorse_formats::zip_records::{
    CENTRAL_LEN, CENTRAL_SIG, EOCD_LEN, EOCD_SIG, LOCAL_LEN, LOCAL_SIG,
};
use happyhorse_tensor::{bail, Result, ResultExt};

use super::pickle_out::state_dict;
use super::tensor::{stream_bytes, SynthTensor};

/// Alignment of every entry's data, as torch writes (`.storage_alignment`).
const ALIGNMENT: u64 = 64;
/// The id of the padding extra field torch writes.
const PADDING_ID: u16 = 0x4246;

/// One entry of the archive: its name and its bytes, given or a tensor's.
enum Entry<'a> {
    Bytes(String, Vec<u8>),
    Tensor(String, &'a SynthTensor),
}

impl Entry<'_> {
    fn name(&self) -> &str {
        match self {
            Entry::Bytes(name, _) | Entry::Tensor(name, _) => name,
        }
    }

    fn len(&self) -> u64 {
        match self {
            Entry::Bytes(_, b) => b.len() as u64,
            Entry::Tensor(_, t) => t.byte_len(),
        }
    }
}

/// The entries of the checkpoint `path` of `tensors`, in the order torch writes them.
fn entries<'a>(path: &Path, tensors: &'a [SynthTensor], dict_path: &[&str]) -> Vec<Entry<'a>> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "archive".into());
    let data: u64 = tensors.iter().map(SynthTensor::byte_len).sum();
    let bytes = |name: &str, b: &[u8]| Entry::Bytes(format!("{stem}/{name}"), b.to_vec());
    let mut list = vec![
        bytes("data.pkl", &state_dict(tensors, dict_path)),
        bytes(".format_version", b"1"),
        bytes(".storage_alignment", b"64"),
        bytes("byteorder", b"little"),
    ];
    list.extend(
        tensors
            .iter()
            .enumerate()
            .map(|(i, t)| Entry::Tensor(format!("{stem}/data/{i}"), t)),
    );
    list.push(bytes("version", b"3\n"));
    list.push(bytes(
        ".data/serialization_id",
        format!("{data:040}").as_bytes(),
    ));
    list
}

/// Padding after the local header of an entry named `name` starting at `offset`, so that
/// its data starts on an [`ALIGNMENT`] boundary.
fn padding(offset: u64, name: &str) -> u64 {
    let unpadded = offset + (LOCAL_LEN + name.len() + 4) as u64;
    (ALIGNMENT - unpadded % ALIGNMENT) % ALIGNMENT
}

/// Size in bytes of the checkpoint [`write_file`] writes.
pub fn file_len(path: &Path, tensors: &[SynthTensor], dict_path: &[&str]) -> u64 {
    let mut pos = 0u64;
    let mut central = 0u64;
    for e in entries(path, tensors, dict_path) {
        pos += (LOCAL_LEN + e.name().len() + 4) as u64 + padding(pos, e.name()) + e.len();
        central += (CENTRAL_LEN + e.name().len()) as u64;
    }
    pos + central + EOCD_LEN as u64
}

/// Writes `tensors` as the PyTorch checkpoint `path`, the state dict nested under
/// `dict_path` (see [`state_dict`]); `progress` hears the bytes written so far. The
/// archive must stay under 4 GiB (no zip64 records are written).
pub fn write_file(
    path: &Path,
    tensors: &[SynthTensor],
    dict_path: &[&str],
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let len = file_len(path, tensors, dict_path);
    if len >= u32::MAX as u64 {
        bail!(
            "{}: an archive of {len} bytes needs zip64 records, which this writer does not write",
            path.display()
        );
    }
    let entries = entries(path, tensors, dict_path);
    write_atomically(path, |w| {
        let mut zip = ZipOut {
            w,
            pos: 0,
            central: Vec::new(),
            count: 0,
        };
        for e in &entries {
            match e {
                Entry::Bytes(name, b) => zip.entry(name, b.len() as u64, &mut |sink| sink(b))?,
                Entry::Tensor(name, t) => {
                    zip.entry(name, t.byte_len(), &mut |sink| stream_bytes(&[t], sink))?
                }
            }
            progress(zip.pos);
        }
        zip.finish()
    })
    .with_context(|| format!("writing {}", path.display()))
}

/// The bytes of one stored entry, handed to a sink.
type Producer<'a> = dyn FnMut(&mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> + 'a;

struct ZipOut<W: Write + Seek> {
    w: W,
    pos: u64,
    central: Vec<u8>,
    count: u16,
}

impl<W: Write + Seek> ZipOut<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.w.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// A stored entry of `len` bytes; its CRC is written into the local header once the
    /// data is out.
    fn entry(&mut self, name: &str, len: u64, produce: &mut Producer) -> Result<()> {
        let offset = self.pos;
        let padding = padding(offset, name);
        let mut header = Vec::with_capacity(LOCAL_LEN + name.len() + 4);
        header.extend(LOCAL_SIG.to_le_bytes());
        header.extend(fields(0, len, name, 4 + padding as u16));
        header.extend(name.as_bytes());
        header.extend(PADDING_ID.to_le_bytes());
        header.extend((padding as u16).to_le_bytes());
        self.put(&header)?;
        self.put(&vec![b'Z'; padding as usize])?;
        let mut crc = crc32fast::Hasher::new();
        let mut written = 0u64;
        produce(&mut |chunk| {
            crc.update(chunk);
            written += chunk.len() as u64;
            self.put(chunk)
        })?;
        if written != len {
            bail!("entry {name}: {written} bytes written, {len} announced");
        }
        let crc = crc.finalize();
        self.w.seek(SeekFrom::Start(offset + 14))?;
        self.w.write_all(&crc.to_le_bytes())?;
        self.w.seek(SeekFrom::Start(self.pos))?;

        self.central.extend(CENTRAL_SIG.to_le_bytes());
        self.central.extend(20u16.to_le_bytes());
        self.central.extend(fields(crc, len, name, 0));
        // Comment length, disk, internal and external attributes.
        self.central.extend([0u8; 10]);
        self.central.extend((offset as u32).to_le_bytes());
        self.central.extend(name.as_bytes());
        self.count += 1;
        Ok(())
    }

    /// The central directory and its end record.
    fn finish(mut self) -> Result<()> {
        let at = self.pos;
        let central = std::mem::take(&mut self.central);
        self.put(&central)?;
        let mut end = Vec::with_capacity(EOCD_LEN);
        end.extend(EOCD_SIG.to_le_bytes());
        end.extend([0u8; 4]);
        end.extend(self.count.to_le_bytes());
        end.extend(self.count.to_le_bytes());
        end.extend((central.len() as u32).to_le_bytes());
        end.extend((at as u32).to_le_bytes());
        end.extend([0u8; 2]);
        self.put(&end)
    }
}

/// The fields a local and a central header share, from "version needed" to the extra
/// field's length: a stored entry, no time stamp.
fn fields(crc: u32, len: u64, name: &str, extra_len: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(26);
    f.extend(20u16.to_le_bytes());
    f.extend([0u8; 8]);
    f.extend(crc.to_le_bytes());
    f.extend((len as u32).to_le_bytes());
    f.extend((len as u32).to_le_bytes());
    f.extend((name.len() as u16).to_le_bytes());
    f.extend(extra_len.to_le_bytes());
    f
}

#[cfg(test)]
mod tests {
    use happyhorse_formats::{open_torch_state_dict, TensorBytes, ZipArchive};

    use super::super::tensor::round_trip::{assert_reads_back, sample};
    use super::*;

    #[test]
    fn the_reader_reads_back_what_was_written_flat_and_nested() {
        let dir = std::env::temp_dir().join(format!("hh-torch-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tensors = sample();
        for (file, dict_path) in [
            ("flat.pth", &[][..]),
            ("nested.ckpt", &["ema_state_dict"][..]),
        ] {
            let path = dir.join(file);
            let mut last = 0;
            write_file(&path, &tensors, dict_path, &mut |n| last = n).unwrap();
            let len = std::fs::metadata(&path).unwrap().len();
            assert_eq!(len, file_len(&path, &tensors, dict_path));
            assert!(last > 0 && last < len);
            let src = open_torch_state_dict(&path, dict_path).unwrap();
            assert_reads_back(src.as_ref(), &tensors, "");

            // Every storage starts on a 64-byte boundary, as torch lays them out.
            let zip = ZipArchive::from_bytes(
                TensorBytes::map_file(&path).unwrap(),
                path.display().to_string(),
            )
            .unwrap();
            let stem = file.split('.').next().unwrap();
            for i in 0..tensors.len() {
                let entry = zip.entry(&format!("{stem}/data/{i}")).unwrap();
                assert_eq!(entry.data.start % 64, 0, "{file} data/{i}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_archive_past_4_gib_is_refused_before_writing() {
        let path = std::env::temp_dir().join(format!("hh-torch-big-{}.pth", std::process::id()));
        let big = SynthTensor::random(
            1,
            "w".into(),
            happyhorse_tensor::DType::F32,
            vec![1 << 30, 2],
        );
        let err = write_file(&path, &[big], &[], &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("zip64"), "{err}");
        assert!(!path.exists());
    }
}
