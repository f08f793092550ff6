using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Quanta.Model;

namespace Quanta.Cpu.Kernels;

/// <summary>
/// GPTQ 4-bit weights repacked at load: per output row, contiguous nibbles over a permuted input
/// dimension in which each group is contiguous (act-order's g_idx sorted) and padded to a multiple
/// of 8, with the row's per-group scale and zero beside it. Each step gathers the activations into
/// that order (skipped when it is the identity); dequantisation happens in registers.
/// </summary>
internal sealed unsafe class Int4MatMul : CpuLinear
{
    readonly byte[] _packed;   // [out, P/2] nibble p of a row: byte p/2, low nibble when p even
    readonly float[] _scales;  // [out, groups]
    readonly float[] _zeros;   // [out, groups] zero point (stored qzero + 1)
    readonly int[] _start;     // [groups + 1] first padded input index of each group
    readonly int[]? _src;      // [P] input index feeding padded index p, -1 for padding; null = identity
    readonly int _padded, _groups;
    readonly ScratchBuffer _gather; // [tokens, P] gathered activations, shared by all int4 layers
    readonly byte* _pk;        // pinned views of the arrays above
    readonly float* _sc, _ze;
    readonly int* _st;
    readonly int _rowBytes;    // P/2

    public Int4MatMul(GptqLinear g, ScratchBuffer gather) : base(g.InFeatures, g.OutFeatures)
    {
        _gather = gather;
        int inF = g.InFeatures, outF = g.OutFeatures;
        if (g.Bits != 4) throw new ModelLoadException($"{g.Name}: {g.Bits}-bit GPTQ is not supported (only 4-bit)");
        _groups = g.Groups;
        Check(g.QWeight, (inF + 7) / 8, outF, DType.I32);
        Check(g.QZeros, _groups, (outF + 7) / 8, DType.I32);
        Check(g.Scales, _groups, outF, g.Scales.DType is DType.F32 or DType.BF16 ? g.Scales.DType : DType.F16);
        if (g.GIdx.Length != inF) throw new ModelLoadException($"{g.Name}.g_idx: length {g.GIdx.Length}, expected {inF}");

        var count = new int[_groups];
        foreach (int gi in g.GIdx)
        {
            if ((uint)gi >= (uint)_groups) throw new ModelLoadException($"{g.Name}.g_idx: group {gi} out of range [0, {_groups})");
            count[gi]++;
        }
        _start = GC.AllocateArray<int>(_groups + 1, pinned: true);
        for (int k = 0; k < _groups; k++) _start[k + 1] = _start[k] + ((count[k] + 7) & ~7);
        _padded = _start[_groups];

        var pos = new int[inF];          // padded index of each input row
        var fill = (int[])_start.Clone();
        for (int i = 0; i < inF; i++) pos[i] = fill[g.GIdx[i]]++;
        bool identity = _padded == inF;
        for (int i = 0; i < inF && identity; i++) identity = pos[i] == i;
        if (!identity)
        {
            _src = new int[_padded];
            Array.Fill(_src, -1);
            for (int i = 0; i < inF; i++) _src[pos[i]] = i;
        }

        _packed = GC.AllocateArray<byte>(checked(outF * (_padded / 2)), pinned: true);
        var qw = g.QWeight.Span<int>();
        int half = _padded / 2;
        for (int r = 0; r < (inF + 7) / 8; r++)
            for (int o = 0; o < outF; o++)
            {
                uint word = (uint)qw[r * outF + o];
                for (int j = 0; j < 8 && 8 * r + j < inF; j++)
                {
                    int p = pos[8 * r + j];
                    byte nib = (byte)((word >> (4 * j)) & 0xF);
                    ref byte b = ref _packed[o * half + p / 2];
                    b |= (byte)((p & 1) == 0 ? nib : nib << 4);
                }
            }

        _scales = GC.AllocateArray<float>(outF * _groups, pinned: true);
        _zeros = GC.AllocateArray<float>(outF * _groups, pinned: true);
        var row = new float[outF];
        var qz = g.QZeros.Span<int>();
        int zStride = (outF + 7) / 8;
        for (int k = 0; k < _groups; k++)
        {
            fixed (float* pr = row) Vec.ToFloat(g.Scales.DType, (byte*)g.Scales.Data + (long)k * outF * DTypeInfo.Size(g.Scales.DType), pr, outF);
            for (int o = 0; o < outF; o++)
            {
                _scales[o * _groups + k] = row[o];
                _zeros[o * _groups + k] = ((qz[k * zStride + o / 8] >> (4 * (o % 8))) & 0xF) + 1;
            }
        }

        _pk = (byte*)Unsafe.AsPointer(ref _packed[0]);
        _sc = (float*)Unsafe.AsPointer(ref _scales[0]);
        _ze = (float*)Unsafe.AsPointer(ref _zeros[0]);
        _st = (int*)Unsafe.AsPointer(ref _start[0]);
        _rowBytes = half;

        void Check(TensorView t, long rows, long cols, DType dtype)
        {
            if (t.Shape.Length != 2 || t.Shape[0] != rows || t.Shape[1] != cols || t.DType != dtype)
                throw new ModelLoadException($"{t.Name}: {t.DType}[{string.Join(", ", t.Shape)}], expected {dtype}[{rows}, {cols}]");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override float* Prepare(float* x, int tokens, out int stride)
    {
        if (_src is null) { stride = In; return x; }
        stride = _padded;
        float* g = _gather.Get((long)tokens * _padded);
        for (int t = 0; t < tokens; t++)
        {
            float* xr = x + (long)t * In, gr = g + (long)t * _padded;
            for (int p = 0; p < _padded; p++) { int s = _src[p]; gr[p] = s < 0 ? 0f : xr[s]; }
        }
        return g;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Rows(int start, int end, float* x, int xStride, float* y, int tokens)
    {
        for (int r = start; r < end; r += 4)
        {
            if (end - r >= 4)
                for (int t = 0; t < tokens; t++) Dot4(r, x + (long)t * xStride, y + (long)t * Out + r);
            else
                for (int k = r; k < end; k++)
                    for (int t = 0; t < tokens; t++) y[(long)t * Out + k] = Dot1(k, x + (long)t * xStride);
        }
    }

    protected override bool CanExpand => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Expand(int r, int count, float* dst)
    {
        for (int k = 0; k < count; k++)
        {
            int o = r + k;
            byte* row = _pk + (long)o * _rowBytes;
            float* sc = _sc + (long)o * _groups, ze = _ze + (long)o * _groups, d = dst + (long)k * _padded;
            for (int g = 0; g < _groups; g++)
            {
                var vs = Vector256.Create(sc[g]);
                var vz = Vector256.Create(ze[g]);
                for (int p = _st[g]; p < _st[g + 1]; p += Vec.W)
                    ((Unpack(*(uint*)(row + p / 2)) - vz) * vs).Store(d + p);
            }
        }
    }

    static readonly Vector256<uint> Shifts = Vector256.Create(0u, 4, 8, 12, 16, 20, 24, 28);

    /// <summary>8 nibbles of one little-endian word (element j in bits 4j..4j+3) as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Unpack(uint w)
    {
        Vector256<uint> v = Avx2.IsSupported
            ? Avx2.ShiftRightLogicalVariable(Vector256.Create(w), Shifts)
            : Vector256.Create(w, w >> 4, w >> 8, w >> 12, w >> 16, w >> 20, w >> 24, w >> 28);
        return Vector256.ConvertToSingle((v & Vector256.Create(0xFu)).AsInt32());
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    float Dot1(int o, float* x)
    {
        byte* row = _pk + (long)o * _rowBytes;
        float* sc = _sc + (long)o * _groups, ze = _ze + (long)o * _groups;
        var acc = Vector256<float>.Zero;
        for (int g = 0; g < _groups; g++)
        {
            var vs = Vector256.Create(sc[g]);
            var vz = Vector256.Create(ze[g]);
            for (int p = _st[g]; p < _st[g + 1]; p += Vec.W)
                acc = Vector256.FusedMultiplyAdd((Unpack(*(uint*)(row + p / 2)) - vz) * vs, Vector256.Load(x + p), acc);
        }
        return Vec.HSum(acc);
    }

    /// <summary>Rows o..o+3, each with exactly <see cref="Dot1"/>'s arithmetic.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Dot4(int o, float* x, float* y)
    {
        byte* r0 = _pk + (long)o * _rowBytes, r1 = r0 + _rowBytes, r2 = r1 + _rowBytes, r3 = r2 + _rowBytes;
        float* sc = _sc + (long)o * _groups, ze = _ze + (long)o * _groups;
        int G = _groups;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int g = 0; g < G; g++)
        {
            Vector256<float> s0 = Vector256.Create(sc[g]), s1 = Vector256.Create(sc[G + g]), s2 = Vector256.Create(sc[2 * G + g]), s3 = Vector256.Create(sc[3 * G + g]);
            Vector256<float> z0 = Vector256.Create(ze[g]), z1 = Vector256.Create(ze[G + g]), z2 = Vector256.Create(ze[2 * G + g]), z3 = Vector256.Create(ze[3 * G + g]);
            for (int p = _st[g]; p < _st[g + 1]; p += Vec.W)
            {
                var xv = Vector256.Load(x + p);
                int b = p / 2;
                a0 = Vector256.FusedMultiplyAdd((Unpack(*(uint*)(r0 + b)) - z0) * s0, xv, a0);
                a1 = Vector256.FusedMultiplyAdd((Unpack(*(uint*)(r1 + b)) - z1) * s1, xv, a1);
                a2 = Vector256.FusedMultiplyAdd((Unpack(*(uint*)(r2 + b)) - z2) * s2, xv, a2);
                a3 = Vector256.FusedMultiplyAdd((Unpack(*(uint*)(r3 + b)) - z3) * s3, xv, a3);
            }
        }
        y[0] = Vec.HSum(a0); y[1] = Vec.HSum(a1); y[2] = Vec.HSum(a2); y[3] = Vec.HSum(a3);
    }
}
