namespace Hfdl.Transfer;

/// <summary>
/// Decides how many connections big files use (the seed's speed test and dynamic thread allocation):
/// <list type="number">
/// <item>Speed test: one connection, until its rate is stable or the test duration is over.</item>
/// <item>Ramp: multiply the connections while the aggregate rate keeps rising (by at least a fifth per step) and
/// each connection still carries the minimum speed; step back to the best count when it stops rising.</item>
/// <item>Steady: shed connections whose share falls below the minimum speed; what was learnt carries over to later
/// big files of the run.</item>
/// </list>
/// Time comes from the injected <see cref="TimeProvider"/>; <see cref="Tick"/> is called by the scheduler.
/// </summary>
internal sealed class ConnectionController
{
    // Short windows: on a 2 GiB file at 500 MB/s every second spent below the line rate costs a fifth of the total.
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan MinimumSpeedTest = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan RampStep = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan SteadyCheck = TimeSpan.FromSeconds(1);

    private readonly int _maximum;
    private readonly double _minimumPerConnection;
    private readonly TimeSpan _speedTestDuration;
    private readonly TimeProvider _time;
    private readonly Queue<(long Timestamp, long Bytes)> _samples = new();
    private long _totalBytes;
    private Phase _phase = Phase.Idle;
    private long _phaseStarted;
    private double _bestRate;
    private int _bestTarget = 1;
    private double _previousRate;
    private int _lastFactor = 4;

    public ConnectionController(int maximum, double minimumBytesPerSecondPerConnection, TimeSpan speedTestDuration, TimeProvider time)
    {
        _maximum = Math.Max(1, maximum);
        _minimumPerConnection = Math.Max(0, minimumBytesPerSecondPerConnection);
        _speedTestDuration = speedTestDuration;
        _time = time;
        Target = 1;
    }

    private enum Phase
    {
        Idle,
        SpeedTest,
        Ramp,
        Steady,
    }

    /// <summary>How many connections big files should use now.</summary>
    public int Target { get; private set; }

    public int Maximum => _maximum;

    /// <summary>Aggregate rate over the last window, bytes per second.</summary>
    public double CurrentRate { get; private set; }

    public string PhaseName => _phase.ToString();

    /// <summary>Counts bytes received by any big-file connection.</summary>
    public void AddBytes(long bytes) => Interlocked.Add(ref _totalBytes, bytes);

    /// <summary>Samples the rate and adjusts <see cref="Target"/>. <paramref name="active"/> is the connections now fetching.</summary>
    public void Tick(int active)
    {
        var now = _time.GetTimestamp();
        var total = Interlocked.Read(ref _totalBytes);
        _samples.Enqueue((now, total));
        while (_samples.Count > 1 && _time.GetElapsedTime(_samples.Peek().Timestamp, now) > Window)
        {
            _samples.Dequeue();
        }
        var (oldestTime, oldestBytes) = _samples.Peek();
        var span = _time.GetElapsedTime(oldestTime, now).TotalSeconds;
        var windowFull = span >= Window.TotalSeconds * 0.9;
        var previous = CurrentRate;
        CurrentRate = span > 0 ? (total - oldestBytes) / span : 0;
        var inPhase = _time.GetElapsedTime(_phaseStarted, now);

        switch (_phase)
        {
            case Phase.Idle when total > 0:
                _phase = Phase.SpeedTest;
                _phaseStarted = now;
                _samples.Clear();
                _samples.Enqueue((now, total));
                break;
            case Phase.SpeedTest:
                var stable = windowFull && inPhase >= MinimumSpeedTest && previous > 0 && Math.Abs(CurrentRate - previous) <= 0.15 * previous;
                if (stable || inPhase >= _speedTestDuration)
                {
                    StartRamp(now, CurrentRate);
                }
                break;
            case Phase.Ramp when inPhase >= RampStep && windowFull:
                var perConnection = CurrentRate / Math.Max(1, active);
                if (CurrentRate >= _previousRate * 1.2 && perConnection >= _minimumPerConnection)
                {
                    _bestRate = CurrentRate;
                    _bestTarget = Target;
                    if (Target >= _maximum)
                    {
                        Enter(Phase.Steady, now);
                    }
                    else
                    {
                        StepUp(now, CurrentRate);
                    }
                }
                else if (_lastFactor == 4 && _bestTarget * 2 < Target)
                {
                    // Four times the connections did not pay; twice as many still may.
                    _lastFactor = 2;
                    _previousRate = _bestRate;
                    Target = _bestTarget * 2;
                    Enter(Phase.Ramp, now);
                }
                else
                {
                    // More connections did not pay: go back to the count that gave the best rate.
                    Target = CurrentRate > _bestRate * 1.05 && perConnection >= _minimumPerConnection ? Target : _bestTarget;
                    Enter(Phase.Steady, now);
                }
                break;
            case Phase.Steady when inPhase >= SteadyCheck && windowFull && active > 1:
                if (CurrentRate / active < _minimumPerConnection)
                {
                    Target = Math.Max(1, (int)(CurrentRate / Math.Max(1, _minimumPerConnection)));
                }
                _phaseStarted = now;
                break;
        }
    }

    private void StartRamp(long now, double rate)
    {
        _bestRate = rate;
        _bestTarget = Target;
        if (Target >= _maximum)
        {
            Enter(Phase.Steady, now);
            return;
        }
        StepUp(now, rate);
    }

    private void StepUp(long now, double rate)
    {
        _previousRate = rate;
        // Quadruple: three steps from one connection to 64, so a capped CDN's line rate is reached within about a
        // second; a step that does not pay is taken back.
        Target = Math.Min(_maximum, Target * 4);
        _lastFactor = 4;
        Enter(Phase.Ramp, now);
    }

    private void Enter(Phase phase, long now)
    {
        _phase = phase;
        _phaseStarted = now;
        _samples.Clear();
        _samples.Enqueue((now, Interlocked.Read(ref _totalBytes)));
    }
}
