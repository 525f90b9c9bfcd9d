// Entry point of a kernel with one invocation per element: 256 per workgroup over a 2-D
// grid of workgroups, calling the kernel's `element(i)` for every i < P.n.

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_group(wid, nwg) * 256u + lid;
    if (i < P.n) {
        element(i);
    }
}
