using System.Runtime.InteropServices;

namespace Quanta.Cuda.Native;

/// <summary>cuBLAS (v2 API): GemmEx for inference; fp64 Dgemm, Dsyrk and Dtrsm for quantization.</summary>
internal static unsafe partial class Cublas
{
    const string L = CudaLibraries.Cublas;
    public const int OpN = 0, OpT = 1;
    public const int R16F = 2, R32F = 0;
    public const int Compute32F = 68, GemmDefault = -1;
    public const int FillLower = 0, SideLeft = 0, SideRight = 1, DiagNonUnit = 0;

    [LibraryImport(L, EntryPoint = "cublasCreate_v2")] public static partial int Create(out nint handle);
    [LibraryImport(L, EntryPoint = "cublasDestroy_v2")] public static partial int Destroy(nint handle);
    [LibraryImport(L, EntryPoint = "cublasSetStream_v2")] public static partial int SetStream(nint handle, nint stream);
    [LibraryImport(L, EntryPoint = "cublasGemmEx")]
    public static partial int GemmEx(nint handle, int transa, int transb, int m, int n, int k, float* alpha,
        ulong a, int atype, int lda, ulong b, int btype, int ldb, float* beta, ulong c, int ctype, int ldc, int compute, int algo);

    [LibraryImport(L, EntryPoint = "cublasGemmStridedBatchedEx")]
    public static partial int GemmStridedBatchedEx(nint handle, int transa, int transb, int m, int n, int k, float* alpha,
        ulong a, int atype, int lda, long strideA, ulong b, int btype, int ldb, long strideB, float* beta,
        ulong c, int ctype, int ldc, long strideC, int batchCount, int compute, int algo);

    [LibraryImport(L, EntryPoint = "cublasDgemm_v2")]
    public static partial int Dgemm(nint handle, int transa, int transb, int m, int n, int k, double* alpha,
        ulong a, int lda, ulong b, int ldb, double* beta, ulong c, int ldc);

    [LibraryImport(L, EntryPoint = "cublasDsyrk_v2")]
    public static partial int Dsyrk(nint handle, int uplo, int trans, int n, int k, double* alpha, ulong a, int lda,
        double* beta, ulong c, int ldc);

    [LibraryImport(L, EntryPoint = "cublasDtrsm_v2")]
    public static partial int Dtrsm(nint handle, int side, int uplo, int trans, int diag, int m, int n, double* alpha,
        ulong a, int lda, ulong b, int ldb);

    public static void Check(int status, string call)
    {
        if (status != 0) throw new CudaException($"{call} failed: cuBLAS status {status}");
    }
}
