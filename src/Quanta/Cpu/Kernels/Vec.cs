using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Quanta.Cpu.Kernels;

/// <summary>
/// Vector helpers shared by the kernels. Every reduction here has one fixed summation order for a
/// given length (one Vector256 accumulator, then a fixed horizontal sum, then the scalar tail), so a
/// row's result never depends on how many rows or tokens are computed beside it.
/// </summary>
internal static unsafe class Vec
{
    public const int W = 8; // floats per Vector256

    /// <summary>8 IEEE half values (as ushort) to fp32, exact for normal and subnormal numbers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> HalfToFloat(Vector128<ushort> h)
    {
        var u = Vector256.Create(Vector128.WidenLower(h), Vector128.WidenUpper(h));
        var sign = (u & Vector256.Create(0x8000u)) << 16;
        var mag = (u & Vector256.Create(0x7FFFu)) << 13;
        var f = mag.AsSingle() * Vector256.Create(5.192296858534828e33f); // 2^112 rebases the exponent
        return (f.AsUInt32() | sign).AsSingle();
    }

    /// <summary>8 bfloat16 values (as ushort) to fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> BFloatToFloat(Vector128<ushort> h)
        => (Vector256.Create(Vector128.WidenLower(h), Vector128.WidenUpper(h)) << 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfToFloat(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BFloatToFloat(ushort h) => BitConverter.Int32BitsToSingle(h << 16);

    /// <summary>Fixed-order horizontal sum of 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HSum(Vector256<float> v)
    {
        var s4 = v.GetLower() + v.GetUpper();
        var s2 = s4 + Vector128.Shuffle(s4, Vector128.Create(2, 3, 0, 1));
        return s2.ToScalar() + s2.GetElement(1);
    }

    /// <summary>Dot product of two fp32 vectors of length n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static float Dot(float* a, float* b, int n)
    {
        var acc = Vector256<float>.Zero;
        int i = 0;
        for (; i <= n - W; i += W)
            acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc);
        float s = HSum(acc);
        for (; i < n; i++) s = MathF.FusedMultiplyAdd(a[i], b[i], s);
        return s;
    }

    /// <summary>Converts n stored values of <paramref name="dtype"/> at src to fp32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ToFloat(Model.DType dtype, void* src, float* dst, int n)
    {
        switch (dtype)
        {
            case Model.DType.F32:
                new ReadOnlySpan<float>(src, n).CopyTo(new Span<float>(dst, n));
                return;
            case Model.DType.F16:
            case Model.DType.BF16:
                var p = (ushort*)src;
                bool half = dtype == Model.DType.F16;
                int i = 0;
                for (; i <= n - W; i += W)
                {
                    var h = Vector128.Load(p + i);
                    (half ? HalfToFloat(h) : BFloatToFloat(h)).Store(dst + i);
                }
                for (; i < n; i++) dst[i] = half ? HalfToFloat(p[i]) : BFloatToFloat(p[i]);
                return;
            default:
                throw new NotSupportedException($"cpu backend: weights of type {dtype} are not supported");
        }
    }

    /// <summary>out = x * rsqrt(mean(x^2) + eps) * weight over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RmsNorm(float* x, float* weight, float* dst, int n, float eps)
    {
        float ss = Dot(x, x, n);
        float r = 1f / MathF.Sqrt(ss / n + eps);
        var vr = Vector256.Create(r);
        int i = 0;
        for (; i <= n - W; i += W)
            (Vector256.Load(x + i) * vr * Vector256.Load(weight + i)).Store(dst + i);
        for (; i < n; i++) dst[i] = x[i] * r * weight[i];
    }

    /// <summary>x += y over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(float* x, float* y, int n)
    {
        int i = 0;
        for (; i <= n - W; i += W) (Vector256.Load(x + i) + Vector256.Load(y + i)).Store(x + i);
        for (; i < n; i++) x[i] += y[i];
    }
}
