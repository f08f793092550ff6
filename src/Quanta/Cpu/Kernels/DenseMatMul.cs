using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Quanta.Model;

namespace Quanta.Cpu.Kernels;

/// <summary>Reads 8 stored weights (or one) as fp32.</summary>
internal unsafe interface IWeightType
{
    static abstract int Size { get; }
    static abstract Vector256<float> Load(byte* p);
    static abstract float Scalar(byte* p);
}

internal unsafe struct F32Weights : IWeightType
{
    public static int Size => 4;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(byte* p) => Vector256.Load((float*)p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Scalar(byte* p) => *(float*)p;
}

internal unsafe struct F16Weights : IWeightType
{
    public static int Size => 2;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(byte* p) => Vec.HalfToFloat(Vector128.Load((ushort*)p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Scalar(byte* p) => Vec.HalfToFloat(*(ushort*)p);
}

internal unsafe struct BF16Weights : IWeightType
{
    public static int Size => 2;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(byte* p) => Vec.BFloatToFloat(Vector128.Load((ushort*)p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Scalar(byte* p) => Vec.BFloatToFloat(*(ushort*)p);
}

/// <summary>Dense [out, in] weights read in their stored type straight from the (memory-mapped) tensor.</summary>
internal sealed unsafe class DenseMatMul<T> : CpuLinear where T : struct, IWeightType
{
    readonly byte* _w;      // [out, in] T
    readonly long _rowBytes;

    public DenseMatMul(Model.DenseLinear d) : base(d.InFeatures, d.OutFeatures)
    {
        var s = d.Weight.Shape;
        if (s.Length != 2 || s[0] != d.OutFeatures || s[1] != d.InFeatures || d.Weight.ByteLength < (long)d.OutFeatures * d.InFeatures * T.Size)
            throw new ModelLoadException($"{d.Weight.Name}: shape [{string.Join(", ", s)}] does not match [{d.OutFeatures}, {d.InFeatures}]");
        _w = (byte*)d.Weight.Data;
        _rowBytes = (long)In * T.Size;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Rows(int start, int end, float* x, int xStride, float* y, int tokens)
    {
        int n = In, o = Out;
        for (int r = start; r < end; r += 4)
        {
            byte* w0 = _w + r * _rowBytes;
            if (end - r >= 4)
            {
                for (int t = 0; t < tokens; t++)
                    Dot4(w0, _rowBytes, x + (long)t * xStride, n, y + (long)t * o + r);
            }
            else
            {
                for (int k = r; k < end; k++)
                    for (int t = 0; t < tokens; t++)
                        y[(long)t * o + k] = Dot1(_w + k * _rowBytes, x + (long)t * xStride, n);
            }
        }
    }

    protected override bool CanExpand => T.Size != sizeof(float);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected override void Expand(int r, int count, float* dst)
    {
        for (int k = 0; k < count; k++)
        {
            byte* w = _w + (r + k) * _rowBytes;
            float* d = dst + (long)k * In;
            int i = 0;
            for (; i <= In - Vec.W; i += Vec.W) T.Load(w + i * T.Size).Store(d + i);
            for (; i < In; i++) d[i] = T.Scalar(w + i * T.Size);
        }
    }

    /// <summary>One row: a single accumulator, fixed horizontal sum, then the scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot1(byte* w, float* x, int n)
    {
        var acc = Vector256<float>.Zero;
        int i = 0;
        for (; i <= n - Vec.W; i += Vec.W)
            acc = Vector256.FusedMultiplyAdd(T.Load(w + i * T.Size), Vector256.Load(x + i), acc);
        float s = Vec.HSum(acc);
        for (; i < n; i++) s = MathF.FusedMultiplyAdd(T.Scalar(w + i * T.Size), x[i], s);
        return s;
    }

    /// <summary>Four consecutive rows, each with exactly <see cref="Dot1"/>'s arithmetic.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(byte* w, long rowBytes, float* x, int n, float* y)
    {
        byte* w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int i = 0;
        for (; i <= n - Vec.W; i += Vec.W)
        {
            var xv = Vector256.Load(x + i);
            int b = i * T.Size;
            a0 = Vector256.FusedMultiplyAdd(T.Load(w + b), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(T.Load(w1 + b), xv, a1);
            a2 = Vector256.FusedMultiplyAdd(T.Load(w2 + b), xv, a2);
            a3 = Vector256.FusedMultiplyAdd(T.Load(w3 + b), xv, a3);
        }
        float s0 = Vec.HSum(a0), s1 = Vec.HSum(a1), s2 = Vec.HSum(a2), s3 = Vec.HSum(a3);
        for (; i < n; i++)
        {
            float xi = x[i];
            int b = i * T.Size;
            s0 = MathF.FusedMultiplyAdd(T.Scalar(w + b), xi, s0);
            s1 = MathF.FusedMultiplyAdd(T.Scalar(w1 + b), xi, s1);
            s2 = MathF.FusedMultiplyAdd(T.Scalar(w2 + b), xi, s2);
            s3 = MathF.FusedMultiplyAdd(T.Scalar(w3 + b), xi, s3);
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
    }
}
