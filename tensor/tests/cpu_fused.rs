//! The fused ops on the CPU equal, bit for bit, the chains of unfused ops they replace.

mod fused_common;

use happyhorse_tensor::Device;

#[test]
fn fused_ops_equal_their_unfused_chains_exactly() {
    for o in fused_common::outcomes(&Device::Cpu) {
        assert_eq!(o.fused.shape(), o.unfused.shape(), "{}: shape", o.what);
        let (f, u) = (o.fused.to_vec().unwrap(), o.unfused.to_vec().unwrap());
        for (i, (a, b)) in f.iter().zip(&u).enumerate() {
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{}: element {i}: {a} vs {b}",
                o.what
            );
        }
    }
}
