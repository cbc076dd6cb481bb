using System.Text.Json;

namespace Hfdl.Hub.Server;

/// <summary>Throughput limits and injected faults. Everything is off by default.</summary>
public sealed record HubFaults
{
    /// <summary>No limits, no faults.</summary>
    public static HubFaults None { get; } = new();

    /// <summary>Caps each connection's body throughput, in bytes per second.</summary>
    public long? PerConnectionBytesPerSecond { get; init; }

    /// <summary>Caps the body throughput of all connections together (one shared token bucket), in bytes per second.</summary>
    public long? GlobalBytesPerSecond { get; init; }

    /// <summary>Added before every response.</summary>
    public TimeSpan Latency { get; init; }

    /// <summary>Overrides <see cref="HubServerOptions.SignedUrlLifetime"/>: signed CDN URLs expire after this.</summary>
    public TimeSpan? SignedUrlLifetime { get; init; }

    internal void Validate()
    {
    }
}

internal static class HubFaultsJson
{
    public static HubFaults Read(JsonElement element, string source) => HubFaults.None;
}
