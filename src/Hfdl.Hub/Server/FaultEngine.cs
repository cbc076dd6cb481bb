namespace Hfdl.Hub.Server;

/// <summary>Decides, per request and file, which limits and faults apply; keeps the counters and the seeded random.</summary>
internal sealed class FaultEngine
{
    public TransferPlan PlanTransfer(HubRequest request, string fileKey, long size) => new();
}

/// <summary>What happens to one body transfer.</summary>
internal sealed class TransferPlan
{
    public bool IgnoreRange { get; init; }

    /// <summary>Added to the true Content-Length: positive promises bytes that never come, negative cuts the body short.</summary>
    public long ContentLengthDelta { get; init; }

    /// <summary>Shrinks a chunk so that it ends at the next fault point; 0 means "at a fault point now".</summary>
    public int ClampChunk(long sent, int want) => want;

    public Task<bool> AtFaultPointAsync(HubRequest request, long sent, CancellationToken cancellationToken) => Task.FromResult(true);

    public void Mutate(long offset, Span<byte> chunk)
    {
    }

    public ValueTask ThrottleAsync(HubRequest request, int bytes, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
