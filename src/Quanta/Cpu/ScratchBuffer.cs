namespace Quanta.Cpu;

/// <summary>A pinned fp32 buffer that grows (at least doubling) to the largest size asked for and is then reused.</summary>
internal sealed unsafe class ScratchBuffer
{
    float[] _data = [];

    /// <summary>At least <paramref name="length"/> floats; contents are unspecified.</summary>
    public float* Get(long length)
    {
        length = Math.Max(length, 1);
        if (_data.Length < length)
            _data = GC.AllocateUninitializedArray<float>(checked((int)Math.Max(length, Math.Min(2L * _data.Length, Array.MaxLength))), pinned: true);
        return (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _data[0]);
    }
}
