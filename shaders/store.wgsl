// Element storers, one per storage dtype: `store_NAME(i, v)` writes the f32 value v as
// element i of the binding NAME, declared `array<f32>` or (with `enable f16`)
// `array<f16>`, rounding to nearest. The host picks a section and substitutes NAME.
//# F32
fn store_NAME(i: u32, v: f32) {
    NAME[i] = v;
}
//# F16
fn store_NAME(i: u32, v: f32) {
    NAME[i] = f16(v);
}
