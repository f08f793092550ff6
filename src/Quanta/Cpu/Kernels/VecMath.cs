using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Quanta.Cpu.Kernels;

/// <summary>
/// exp, softmax and SwiGLU. The scalar tail repeats the vector lanes' arithmetic exactly, so an
/// element's value never depends on where it falls in the loop (and thus on the batch size).
/// </summary>
internal static unsafe class VecMath
{
    const float Log2E = 1.44269504f, Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f, Lo = -87.3f, Hi = 88.3f;
    const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f, P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    /// <summary>e^x for 8 lanes (Cody-Waite reduction, degree-5 polynomial; clamped to the normal range).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(Lo)), Vector256.Create(Hi));
        var n = Vector256.Round(x * Vector256.Create(Log2E));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Hi), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Lo), r);
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(P0), r, Vector256.Create(P1));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P5));
        var y = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256.Create(1f);
        var scale = ((Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23).AsSingle();
        return y * scale;
    }

    /// <summary>The same arithmetic as one lane of the vector <see cref="Exp(Vector256{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Exp(float x)
    {
        x = MathF.Min(MathF.Max(x, Lo), Hi);
        float n = MathF.Round(x * Log2E);
        float r = MathF.FusedMultiplyAdd(n, -Ln2Hi, x);
        r = MathF.FusedMultiplyAdd(n, -Ln2Lo, r);
        float p = MathF.FusedMultiplyAdd(P0, r, P1);
        p = MathF.FusedMultiplyAdd(p, r, P2);
        p = MathF.FusedMultiplyAdd(p, r, P3);
        p = MathF.FusedMultiplyAdd(p, r, P4);
        p = MathF.FusedMultiplyAdd(p, r, P5);
        float y = MathF.FusedMultiplyAdd(p, r * r, r) + 1f;
        return y * BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
    }

    /// <summary>In-place softmax over n floats: exp(x - max) / sum, the sum in a fixed order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Softmax(float* x, int n)
    {
        var vm = Vector256.Create(float.NegativeInfinity);
        int j = 0;
        for (; j <= n - Vec.W; j += Vec.W) vm = Vector256.Max(vm, Vector256.Load(x + j));
        float max = float.NegativeInfinity;
        for (int k = 0; k < Vec.W; k++) max = MathF.Max(max, vm.GetElement(k));
        for (; j < n; j++) max = MathF.Max(max, x[j]);
        var vmax = Vector256.Create(max);
        var acc = Vector256<float>.Zero;
        j = 0;
        for (; j <= n - Vec.W; j += Vec.W)
        {
            var e = Exp(Vector256.Load(x + j) - vmax);
            e.Store(x + j);
            acc += e;
        }
        float sum = Vec.HSum(acc);
        for (; j < n; j++) { x[j] = Exp(x[j] - max); sum += x[j]; }
        var inv = Vector256.Create(1f / sum);
        j = 0;
        for (; j <= n - Vec.W; j += Vec.W) (Vector256.Load(x + j) * inv).Store(x + j);
        for (; j < n; j++) x[j] *= inv.ToScalar();
    }

    /// <summary>gate = silu(gate) * up = gate * up / (1 + e^-gate) over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SwiGlu(float* gate, float* up, int n)
    {
        var one = Vector256.Create(1f);
        int i = 0;
        for (; i <= n - Vec.W; i += Vec.W)
        {
            var g = Vector256.Load(gate + i);
            (g * Vector256.Load(up + i) / (one + Exp(-g))).Store(gate + i);
        }
        for (; i < n; i++) gate[i] = gate[i] * up[i] / (1f + Exp(-gate[i]));
    }
}
