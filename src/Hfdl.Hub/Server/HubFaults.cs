using System.Text.Json;

namespace Hfdl.Hub.Server;

/// <summary>Throughput limits and injected faults. Everything is off by default.</summary>
public sealed record HubFaults
{
    /// <summary>No limits, no faults.</summary>
    public static HubFaults None { get; } = new();

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
