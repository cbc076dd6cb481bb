namespace Hfdl.Core.Progress;

/// <summary>
/// The state of the big-file connections, reported about twice a second: how many fetch now, how many the controller
/// wants, the aggregate rate, each connection's rate, and the controller's phase (SpeedTest, Ramp, Steady).
/// </summary>
public sealed record TransferStats(int Connections, int TargetConnections, double BytesPerSecond, IReadOnlyList<double> PerConnectionBytesPerSecond, string Phase) : DownloadEvent;
