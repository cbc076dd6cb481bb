namespace Hfdl.Core.Transfer;

/// <summary>
/// Decides how many connections big files use (the seed's speed test and dynamic thread allocation):
/// <list type="number">
/// <item>Speed test: one connection, until its rate is stable or the test duration is over.</item>
/// <item>Ramp: multiply the connections by eight while the aggregate rate keeps rising (by at least a tenth per step) and
/// each connection still carries the minimum speed; step back to the best count when it stops rising. A step is judged
/// on the bytes after every new connection has delivered (they need a connect and a round trip first), and as soon as
/// the rate scaled almost linearly, so on a per-connection capped CDN 1 -> 8 -> 64 takes a few tenths of a
/// second.</item>
/// <item>Steady: shed connections whose share falls below the minimum speed; what was learnt carries over to later
/// big files of the run. A pool of two to four connections is probed once at half its size, and kept smaller when
/// the rate holds (a link one connection fills gains nothing from more but their CPU).</item>
/// </list>
/// Time comes from the injected <see cref="TimeProvider"/>; <see cref="Tick"/> is called by the scheduler.
/// </summary>
internal sealed class ConnectionController
{
    // Short windows: on a 2 GiB file at 500 MB/s every second spent below the line rate costs a fifth of the total.
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(200);
    // One connection's rate settles fast (a capped CDN connection is flat after its first burst); judging it on
    // shorter windows ends the test ~0.1 s sooner, which is 50 MB at 500 MB/s.
    private static readonly TimeSpan SpeedTestWindow = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MinimumSpeedTest = TimeSpan.FromMilliseconds(100);
    // After a step the new connections connect (TCP, TLS), send their requests and wait a round trip before bytes
    // flow; bytes counted meanwhile would make the step look worse than it is. So a step is measured from the moment
    // every connection has delivered its first bytes: ~25 ms on loopback, a few hundred on a far CDN; if some never
    // do (a server that stalls new connections), after this long the step is judged on what the others carry.
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan SteadyCheck = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ReportWindow = TimeSpan.FromMilliseconds(500);

    private readonly int _maximum;
    private readonly double _minimumPerConnection;
    private readonly TimeSpan _speedTestDuration;
    private readonly TimeProvider _time;
    private readonly Queue<(long Timestamp, long Bytes)> _samples = new();
    private readonly Queue<(long Timestamp, long Bytes)> _reportSamples = new();
    private long _totalBytes;
    private Phase _phase = Phase.Idle;
    private long _phaseStarted;
    private bool _settled;
    private double _bestRate;
    private int _bestTarget = 1;
    private double _previousRate;
    private int _previousTarget = 1;
    private const int StepFactor = 8;
    // Only small pools are probed: halving 24 connections on a capped CDN would cost far more than it could save.
    private const int MaximumProbed = 4;
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);
    private bool _probed;
    private double _rateBeforeProbe;
    private int _targetBeforeProbe;
    private int _lastFactor = StepFactor;
    private double _judgedPerConnection;
    // The count connections were shed from when their share fell below the minimum (0: none shed).
    private int _shedFrom;

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
        Probe,
    }

    /// <summary>How many connections big files should use now.</summary>
    public int Target { get; private set; }

    public int Maximum => _maximum;

    /// <summary>Aggregate rate over the last half second, bytes per second, for reports (phase changes do not reset it).</summary>
    public double CurrentRate { get; private set; }

    public string PhaseName => _phase.ToString();

    /// <summary>Counts bytes received by any big-file connection.</summary>
    public void AddBytes(long bytes) => Interlocked.Add(ref _totalBytes, bytes);

    /// <summary>Per-connection rate to size requests by: the current share, or during the ramp, when new connections
    /// have no rate of their own yet, what one connection carried in the last judged window. Bytes per second, 0 when
    /// nothing has been measured yet.</summary>
    public double PerConnectionRate { get; private set; }

    /// <summary>
    /// Samples the rate and adjusts <see cref="Target"/>. <paramref name="active"/> is the connections now fetching,
    /// <paramref name="delivering"/> those of them that have received bytes.
    /// </summary>
    public void Tick(int active, int delivering)
    {
        var now = _time.GetTimestamp();
        var total = Interlocked.Read(ref _totalBytes);
        CurrentRate = Rate(_reportSamples, ReportWindow, now, total, out _);
        var window = _phase is Phase.SpeedTest ? SpeedTestWindow : Window;
        var rate = Rate(_samples, window, now, total, out var span);
        var windowFull = span >= window.TotalSeconds * 0.9;
        var inPhase = _time.GetElapsedTime(_phaseStarted, now);
        var share = active > 0 ? CurrentRate / active : 0;
        PerConnectionRate = _phase is Phase.Ramp ? Math.Max(share, _judgedPerConnection) : share;

        switch (_phase)
        {
            case Phase.Idle when total > 0:
                Enter(Phase.SpeedTest, now);
                _settled = true;
                break;
            case Phase.SpeedTest:
                var stable = windowFull && inPhase >= MinimumSpeedTest && _previousRate > 0 && Math.Abs(rate - _previousRate) <= 0.15 * _previousRate;
                _previousRate = rate;
                if (stable || inPhase >= _speedTestDuration)
                {
                    _judgedPerConnection = rate / Math.Max(1, active);
                    _bestRate = rate;
                    _bestTarget = Target;
                    StepUp(now, rate);
                }
                break;
            case Phase.Ramp when !_settled:
                if (delivering >= Math.Min(Target, active) || inPhase >= SettleTimeout)
                {
                    _settled = true;
                    ResetWindow(now);
                }
                break;
            case Phase.Ramp:
                JudgeStep(now, rate, span, windowFull, active);
                break;
            case Phase.Steady when inPhase >= SteadyCheck && windowFull && _shedFrom > Target && active == Target && _judgedPerConnection > 0
                && rate / Math.Max(1, active) >= 0.8 * _judgedPerConnection:
                // Connections were shed (an outage made every share fall to nothing, another download took the link),
                // and now each again carries what one carried alone: the link has room. Ramp back to the count shed
                // from and judge it as any step; without this a blip of a few seconds left a run on one connection.
                _previousRate = rate;
                _previousTarget = Target;
                _lastFactor = StepFactor;
                Target = Math.Min(_maximum, _shedFrom);
                _shedFrom = 0;
                Enter(Phase.Ramp, now);
                break;
            case Phase.Steady when inPhase >= SteadyCheck && windowFull && active > 1:
                if (rate / active < _minimumPerConnection)
                {
                    _shedFrom = Math.Max(_shedFrom, Target);
                    Target = Math.Max(1, (int)(rate / Math.Max(1, _minimumPerConnection)));
                }
                else if (!_probed && Target is > 1 and <= MaximumProbed && active == Target)
                {
                    // A few connections may be one too many: when the link, or this machine's CPU, is what one
                    // connection already fills, the speed test's first windows can read low and make a second
                    // connection look worth it. Extra connections then only cost CPU (a second stream to write and
                    // hash back). Try half as many once; keep them if the rate holds.
                    _probed = true;
                    _rateBeforeProbe = rate;
                    _targetBeforeProbe = Target;
                    Target /= 2;
                    Enter(Phase.Probe, now);
                    break;
                }
                _phaseStarted = now;
                break;
            case Phase.Probe when !_settled:
                // Connections leave between segments: judge only once the pool is down to the probed size.
                if (active <= Target)
                {
                    _settled = true;
                    ResetWindow(now);
                }
                else if (inPhase >= ProbeTimeout)
                {
                    Target = _targetBeforeProbe;
                    Enter(Phase.Steady, now);
                }
                break;
            case Phase.Probe when windowFull:
                if (rate < _rateBeforeProbe * 0.9)
                {
                    Target = _targetBeforeProbe;
                }
                Enter(Phase.Steady, now);
                break;
        }
    }

    private void JudgeStep(long now, double rate, double span, bool windowFull, int active)
    {
        var perConnection = rate / Math.Max(1, active);
        var grown = (double)Target / _previousTarget;
        // Nearly linear scaling is clear after a quarter of a window; anything less needs the whole window to be judged.
        var linear = span >= Window.TotalSeconds * 0.25 && rate >= _previousRate * (1 + (0.75 * (grown - 1)));
        if (!linear && !windowFull)
        {
            return;
        }
        if (rate >= _previousRate * 1.1 && perConnection >= _minimumPerConnection)
        {
            _bestRate = rate;
            _bestTarget = Target;
            _judgedPerConnection = perConnection;
            if (!linear)
            {
                // The knee: more connections paid, but less than linearly, so the link is nearly full. Keep about a
                // quarter more connections than the link needs at the per-connection rate seen before this step; more
                // would only cost CPU (on both ends) and share the same rate.
                var perConnectionBefore = _previousRate / Math.Max(1, _previousTarget);
                if (perConnectionBefore > 0)
                {
                    Target = Math.Clamp((int)Math.Ceiling(rate / perConnectionBefore * 1.25), _previousTarget, Target);
                }
                Enter(Phase.Steady, now);
            }
            else if (Target >= _maximum)
            {
                Enter(Phase.Steady, now);
            }
            else
            {
                StepUp(now, rate);
            }
        }
        else if (_lastFactor == StepFactor && _bestTarget * 2 < Target)
        {
            // Eight times the connections did not pay; twice as many still may.
            _lastFactor = 2;
            _previousRate = _bestRate;
            _previousTarget = _bestTarget;
            Target = _bestTarget * 2;
            Enter(Phase.Ramp, now);
        }
        else
        {
            // More connections did not pay: go back to the count that gave the best rate.
            Target = rate > _bestRate * 1.05 && perConnection >= _minimumPerConnection ? Target : _bestTarget;
            Enter(Phase.Steady, now);
        }
    }

    private void StepUp(long now, double rate)
    {
        if (Target >= _maximum)
        {
            Enter(Phase.Steady, now);
            return;
        }
        _previousRate = rate;
        _previousTarget = Target;
        // Eight times: two steps from one connection to 64, so a capped CDN's line rate is reached within a few
        // tenths of a second. Overshooting costs little: a step that scales less than linearly is cut back to what the
        // link needs (see JudgeStep), and one that does not pay at all is taken back.
        Target = Math.Min(_maximum, Target * StepFactor);
        _lastFactor = StepFactor;
        Enter(Phase.Ramp, now);
    }

    private void Enter(Phase phase, long now)
    {
        _phase = phase;
        _phaseStarted = now;
        _settled = false;
        ResetWindow(now);
    }

    private void ResetWindow(long now)
    {
        _samples.Clear();
        _samples.Enqueue((now, Interlocked.Read(ref _totalBytes)));
    }

    private double Rate(Queue<(long Timestamp, long Bytes)> samples, TimeSpan window, long now, long total, out double span)
    {
        samples.Enqueue((now, total));
        while (samples.Count > 1 && _time.GetElapsedTime(samples.Peek().Timestamp, now) > window)
        {
            samples.Dequeue();
        }
        var (oldestTime, oldestBytes) = samples.Peek();
        span = _time.GetElapsedTime(oldestTime, now).TotalSeconds;
        return span > 0 ? (total - oldestBytes) / span : 0;
    }
}
