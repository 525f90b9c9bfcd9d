//! A tensor of a made-up checkpoint: name, dtype, shape and how its values are made, and
//! the streaming of its bytes in bounded chunks.

use std::sync::mpsc::sync_channel;

use happyhorse_tensor::{bail, cancel, DType, Result};

use super::fill::ValueRule;

/// Bytes generated at a time: the memory a file's writing holds, twice over.
pub const CHUNK_BYTES: usize = 4 << 20;

/// Where a tensor's values come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Seeded random values ([`ValueRule`]).
    Random(ValueRule),
    /// Given values (small tensors whose values matter, e.g. rope frequencies).
    Given(Vec<f32>),
}

/// One tensor to write.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthTensor {
    /// Key in the checkpoint.
    pub name: String,
    /// Stored dtype: f32 or bf16.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
    /// How its values are made.
    pub values: Values,
}

impl SynthTensor {
    /// The tensor `name` with seeded random values.
    pub fn random(seed: u64, name: String, dtype: DType, shape: Vec<usize>) -> SynthTensor {
        SynthTensor {
            values: Values::Random(ValueRule::new(seed, &name, &shape)),
            name,
            dtype,
            shape,
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }

    /// Stored size in bytes.
    pub fn byte_len(&self) -> u64 {
        self.numel() * self.dtype.size() as u64
    }

    /// Writes elements `first..` into `out` (as many as it holds).
    fn fill(&self, first: u64, out: &mut [u8]) {
        match &self.values {
            Values::Random(rule) => rule.fill(self.dtype, first, out),
            Values::Given(v) => {
                let size = self.dtype.size();
                for (i, b) in out.chunks_exact_mut(size).enumerate() {
                    let x = v[first as usize + i];
                    if self.dtype == DType::BF16 {
                        b.copy_from_slice(&half::bf16::from_f32(x).to_le_bytes());
                    } else {
                        b.copy_from_slice(&x.to_le_bytes());
                    }
                }
            }
        }
    }
}

/// Hands the bytes of `tensors`, one after the other, to `sink` in chunks of at most
/// [`CHUNK_BYTES`]. A second thread generates the next chunk while `sink` takes the
/// current one. Stops with an error when cancellation is requested.
pub fn stream_bytes(
    tensors: &[&SynthTensor],
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let (full_tx, full_rx) = sync_channel::<Vec<u8>>(1);
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(2);
    for _ in 0..2 {
        let _ = empty_tx.send(Vec::with_capacity(CHUNK_BYTES));
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for t in tensors {
                let size = t.dtype.size() as u64;
                let per_chunk = CHUNK_BYTES as u64 / size;
                let mut first = 0u64;
                while first < t.numel() {
                    let n = per_chunk.min(t.numel() - first);
                    let Ok(mut buf) = empty_rx.recv() else { return };
                    buf.resize((n * size) as usize, 0);
                    t.fill(first, &mut buf);
                    if full_tx.send(buf).is_err() {
                        return;
                    }
                    first += n;
                }
            }
        });
        let result = (|| {
            for buf in full_rx.iter() {
                if cancel::requested() {
                    bail!("interrupted");
                }
                sink(&buf)?;
                let _ = empty_tx.send(buf);
            }
            Ok(())
        })();
        // Unblocks the generating thread when the sink failed.
        drop(full_rx);
        drop(empty_tx);
        result
    })
}

/// Tensors of both stored dtypes and several ranks, and the check that a reader gives
/// back exactly what was written: the writers' round trips.
#[cfg(test)]
pub(crate) mod round_trip {
    use happyhorse_formats::WeightSource;

    use super::*;

    /// A bf16 matrix, an f32 vector with given values, an f32 kernel of rank 3.
    pub fn sample() -> Vec<SynthTensor> {
        vec![
            SynthTensor::random(9, "layers.0.proj.weight".into(), DType::BF16, vec![3, 5]),
            SynthTensor {
                name: "rope.bands".into(),
                dtype: DType::F32,
                shape: vec![4],
                values: Values::Given(vec![1.0, 0.5, 0.25, 0.125]),
            },
            SynthTensor::random(9, "conv.weight".into(), DType::F32, vec![2, 2, 3]),
        ]
    }

    /// The bytes of `t`.
    pub fn bytes_of(t: &SynthTensor) -> Vec<u8> {
        let mut all = Vec::new();
        stream_bytes(&[t], &mut |b| {
            all.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        all
    }

    /// Asserts that `src` holds exactly `tensors` (`prefix` in front of each name): the
    /// same names, dtypes, shapes and bytes.
    pub fn assert_reads_back(src: &dyn WeightSource, tensors: &[SynthTensor], prefix: &str) {
        let mut names = src.names();
        names.sort();
        let mut want: Vec<String> = tensors
            .iter()
            .map(|t| format!("{prefix}{}", t.name))
            .collect();
        want.sort();
        assert_eq!(names, want);
        for t in tensors {
            let key = format!("{prefix}{}", t.name);
            let info = src.info(&key).unwrap();
            assert_eq!((info.dtype, &info.shape), (t.dtype, &t.shape), "{key}");
            assert!(
                src.bytes(&key).unwrap().as_slice() == bytes_of(t).as_slice(),
                "{key}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_bytes_are_the_tensors_in_order_in_bounded_chunks() {
        let big = SynthTensor::random(3, "a.weight".into(), DType::BF16, vec![3, CHUNK_BYTES / 2]);
        let given = SynthTensor {
            name: "bands".into(),
            dtype: DType::F32,
            shape: vec![3],
            values: Values::Given(vec![1.0, 0.5, 0.25]),
        };
        let mut got = Vec::new();
        let mut largest = 0;
        stream_bytes(&[&big, &given], &mut |b| {
            largest = largest.max(b.len());
            got.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert!(largest <= CHUNK_BYTES);
        let mut want = vec![0u8; big.byte_len() as usize];
        big.fill(0, &mut want);
        want.extend([1.0f32, 0.5, 0.25].iter().flat_map(|v| v.to_le_bytes()));
        assert!(got == want);
    }

    #[test]
    fn a_failing_sink_stops_the_stream() {
        let big = SynthTensor::random(3, "a.weight".into(), DType::F32, vec![4, CHUNK_BYTES]);
        let mut calls = 0;
        let err = stream_bytes(&[&big], &mut |_| {
            calls += 1;
            bail!("disk full")
        })
        .unwrap_err();
        assert_eq!(calls, 1);
        assert!(err.to_string().contains("disk full"));
    }
}
