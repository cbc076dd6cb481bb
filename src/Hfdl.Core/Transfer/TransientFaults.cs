using System.Net;
using Hfdl.Hub;

namespace Hfdl.Transfer;

/// <summary>A transfer delivered no bytes for longer than the read timeout.</summary>
internal sealed class TransferStalledException(string path, TimeSpan timeout)
    : HfdlException($"The transfer of '{path}' delivered no data for {timeout.TotalSeconds:0} s.");

/// <summary>A signed CDN URL was refused (usually expired); resolving the file again through the Hub fixes it.</summary>
internal sealed class ExpiredDownloadUrlException(string path, HttpStatusCode status)
    : HfdlException($"The download URL of '{path}' was refused with {(int)status} (signed URLs expire); it will be resolved again.");

/// <summary>The server's body did not match what it announced; retried, since the next attempt may be clean.</summary>
internal sealed class TruncatedBodyException(string message) : HfdlException(message);

/// <summary>Which failures are worth another attempt (hub-api.md §5.3).</summary>
internal static class TransientFaults
{
    public static bool IsTransient(Exception exception) => exception switch
    {
        OperationCanceledException => false,
        TransferStalledException or ExpiredDownloadUrlException or TruncatedBodyException => true,
        HubUnreachableException => true,
        RateLimitedException => true,
        HubException hub => (int?)hub.StatusCode is 408 or 429 or 500 or 502 or 503 or 504,
        HttpRequestException or IOException => !IsDiskFull(exception),
        _ => false,
    };

    /// <summary>ENOSPC (28) or EDQUOT (122) on Linux, ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows.</summary>
    public static bool IsDiskFull(Exception exception) =>
        exception is IOException io && (io.HResult & 0xFFFF) is 28 or 122 or 0x70 or 0x27;

    public static TimeSpan? SuggestedDelay(Exception? exception) => exception switch
    {
        RateLimitedException { RetryAfter: { } wait } => wait,
        _ => null,
    };
}
