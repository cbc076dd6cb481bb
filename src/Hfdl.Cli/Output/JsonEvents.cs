using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Hfdl.Core.Planning;
using Hfdl.Core.Progress;

namespace Hfdl.Cli.Output;

/// <summary>
/// <c>--json</c>: one JSON object per line on stdout, each with <c>schema</c> (the version of this format) and
/// <c>event</c>. The README documents every event and field; fields are only ever added within a schema version.
/// Written with <see cref="Utf8JsonWriter"/> (no reflection, so it works trimmed and AOT-compiled).
/// </summary>
internal sealed class JsonEvents(TextWriter output)
{
    public const int SchemaVersion = 1;

    private static readonly JsonWriterOptions Options = new() { Encoder = TerminalSafeJsonEncoder.Instance };
    private readonly object _gate = new();

    public void Write(string name, Action<Utf8JsonWriter> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            writer.WriteStartObject();
            writer.WriteNumber("schema", SchemaVersion);
            writer.WriteString("event", name);
            fields(writer);
            writer.WriteEndObject();
        }
        var line = Encoding.UTF8.GetString(buffer.WrittenSpan);
        lock (_gate)
        {
            output.WriteLine(line);
            output.Flush();
        }
    }

    /// <summary>
    /// Writes one event straight to the output as it is made, instead of building the line in memory first: for the
    /// plan of a huge repo (70 MB of JSON for 400,000 files), whose copies as bytes and as a string cost hundreds of MB.
    /// <paramref name="fields"/> may call <see cref="Utf8JsonWriter.Flush"/> to pass what it wrote on.
    /// </summary>
    public void WriteStreamed(string name, Action<Utf8JsonWriter> fields)
    {
        lock (_gate)
        {
            using (var stream = new TextWriterStream(output))
            using (var writer = new Utf8JsonWriter(stream, Options))
            {
                writer.WriteStartObject();
                writer.WriteNumber("schema", SchemaVersion);
                writer.WriteString("event", name);
                fields(writer);
                writer.WriteEndObject();
            }
            output.WriteLine();
            output.Flush();
        }
    }

    /// <summary>
    /// A message in words, with any control or invisible character a server put in it escaped as hfdl's terminal
    /// output shows it: <c>jq -r .message</c> must not replay an escape sequence (paths stay exact; they are data).
    /// </summary>
    internal static string Words(string? text) => Core.Hub.SafeText.Escape(text);

    /// <summary>A <c>warning</c>: what a run says on stderr as <c>warning: ...</c>, said to scripts too.</summary>
    public void Warning(string message) => Write("warning", w => w.WriteString("message", Words(message)));

    public void Error(string message, int exitCode, string? path = null, bool? retryable = null) => Write("error", w =>
    {
        if (path is not null)
        {
            w.WriteString("path", path);
        }
        w.WriteString("message", Words(message));
        w.WriteBoolean("fatal", path is null);
        if (retryable is { } again)
        {
            w.WriteBoolean("retryable", again);
        }
        if (path is null)
        {
            w.WriteNumber("exit_code", exitCode);
        }
    });

    /// <summary>
    /// The <c>summary</c> event that ends every run that was not stopped: a download, a dry run, a verification.
    /// <paramref name="exitCode"/> is the process's (a dry run can fail with no file failed: a download it says would
    /// not start); <paramref name="more"/> adds the fields of a mode (a verification's counts, a dry run's flag).
    /// </summary>
    public void Summary(DownloadSummary s, int exitCode, Action<Utf8JsonWriter>? more = null) => Write("summary", w =>
    {
        w.WriteString("target", s.TargetFolder);
        w.WriteString("commit", s.Commit);
        w.WriteNumber("files_downloaded", s.FilesDownloaded);
        w.WriteNumber("files_skipped", s.FilesSkipped);
        w.WriteNumber("files_failed", s.FilesFailed);
        w.WriteNumber("bytes_downloaded", s.BytesDownloaded);
        w.WriteNumber("bytes_fetched", s.BytesFetched);
        w.WriteNumber("bytes_from_cache", s.BytesFromCache);
        w.WriteNumber("seconds", Math.Round(s.Elapsed.TotalSeconds, 3));
        w.WriteNumber("bytes_per_second", Math.Round(s.AverageBytesPerSecond));
        more?.Invoke(w);
        w.WriteBoolean("verified", s.FilesFailed == 0 && !s.Unchecked);
        w.WriteNumber("exit_code", exitCode);
    });

    /// <summary>The plan's action names, made once (a plan of 400,000 files would make 800,000 strings).</summary>
    private static readonly string[] ActionNames = [.. Enum.GetValues<PlannedAction>().Select(a => a.ToString().ToLowerInvariant())];

    /// <summary>Writes <see cref="PlannedFile.Hash"/> without making a string of it.</summary>
    private static void WriteHash(Utf8JsonWriter w, PlannedFile file)
    {
        if (file.Remote is not { } remote)
        {
            w.WriteString("hash", "");
            return;
        }
        Span<char> text = stackalloc char[80];
        var prefix = remote.Hash.Kind == Core.Integrity.HashKind.Sha256 ? "sha256:" : "git-sha1:";
        prefix.CopyTo(text);
        var length = prefix.Length + remote.Hash.WriteHex(text[prefix.Length..]);
        w.WriteString("hash", text[..length]);
    }

    /// <summary>The <c>plan</c> event of a dry run: the totals and every file with what a download would do.</summary>
    public void Plan(DownloadPlan plan) => WriteStreamed("plan", w =>
    {
        w.WriteString("repo", plan.RepoId.ToString());
        w.WriteString("repo_type", plan.RepoType.ToString().ToLowerInvariant());
        w.WriteString("revision", plan.Revision);
        w.WriteString("commit", plan.Commit);
        w.WriteString("target", plan.TargetFolder);
        w.WriteBoolean("dry_run", true);
        w.WriteBoolean("verify", false);
        w.WriteNumber("files", plan.Files.Count);
        w.WriteNumber("bytes", plan.TotalBytes);
        w.WriteNumber("files_to_download", plan.FilesToFetch);
        w.WriteNumber("bytes_to_download", plan.BytesToFetch);
        w.WriteNumber("bytes_resumed", plan.BytesResumed);
        w.WriteNumber("files_to_verify", plan.FilesToVerify);
        w.WriteNumber("bytes_to_verify", plan.BytesToVerify);
        w.WriteNumber("files_present", plan.FilesPresent);
        w.WriteNumber("big_file_threshold", plan.BigFileThreshold);
        w.WriteString("layout", plan.Layout == Core.Storage.LayoutKind.HfCache ? "hf-cache" : "folder");
        w.WriteNumber("extra_files", plan.Extras.Count);
        if (plan.DiskSpace is { } space)
        {
            w.WriteStartObject("disk_space");
            w.WriteNumber("bytes_needed", space.Needed);
            w.WriteNumber("bytes_reserved", space.Reserve);
            if (space.Available is { } available)
            {
                w.WriteNumber("bytes_available", available);
            }
            else
            {
                w.WriteNull("bytes_available");
            }
            w.WriteBoolean("fits", space.Fits);
            w.WriteEndObject();
        }
        w.WriteStartArray("entries");
        foreach (var file in plan.Files.Concat(plan.Extras))
        {
            w.WriteStartObject();
            w.WriteString("path", file.Path);
            w.WriteNumber("size", file.Size);
            w.WriteBoolean("lfs", file.IsLfs);
            w.WriteBoolean("big", file.IsBig);
            WriteHash(w, file);
            w.WriteString("action", ActionNames[(int)file.Action]);
            w.WriteNumber("bytes_on_disk", file.BytesOnDisk);
            if (file.Blocked is { } blocked)
            {
                w.WriteString("blocked", blocked);
            }
            w.WriteEndObject();
            if (w.BytesPending > 64 * 1024)
            {
                w.Flush();
            }
        }
        w.WriteEndArray();
    });
}

/// <summary>
/// Turns the engine's events into <see cref="JsonEvents"/>, with <c>progress</c> at a bounded rate: at most once per
/// interval as bytes arrive, and once per <see cref="Heartbeat"/> while files are active even when none do, since a
/// stalled transfer reports nothing and its <c>stalled: true</c> would otherwise never be written.
/// </summary>
internal sealed class JsonProgress : IProgress<DownloadEvent>, IDisposable
{
    /// <summary>How often <c>progress</c> is written while files are active and no byte arrives.</summary>
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(1);

    private readonly JsonEvents _events;
    private readonly ProgressModel _model;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly object _gate = new();
    private RevisionResolved? _revision;
    private long _lastProgress;
    private ITimer? _heartbeat;
    private bool _finished;

    public JsonProgress(JsonEvents events, TimeProvider? time = null, TimeSpan? interval = null)
    {
        _events = events;
        _time = time ?? TimeProvider.System;
        _interval = interval ?? TimeSpan.FromMilliseconds(500);
        _model = new ProgressModel(_time);
        _lastProgress = _time.GetTimestamp();
    }

    /// <summary>No <c>progress</c> after this: the run ended (its summary or fatal error follows).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _finished = true;
            _heartbeat?.Dispose();
            _heartbeat = null;
        }
    }

    public ProgressModel Model => _model;

    public void Report(DownloadEvent value)
    {
        _model.Report(value);
        switch (value)
        {
            case RevisionResolved resolved:
                _revision = resolved;
                break;
            case PlanReady plan:
                _events.Write("plan", w =>
                {
                    if (_revision is { } r)
                    {
                        w.WriteString("repo", r.RepoId.ToString());
                        w.WriteString("repo_type", r.RepoType.ToString().ToLowerInvariant());
                        w.WriteString("revision", r.Revision);
                        w.WriteString("commit", r.Commit);
                    }
                    w.WriteString("target", plan.TargetFolder);
                    w.WriteBoolean("dry_run", false);
                    w.WriteBoolean("verify", plan.Verify);
                    w.WriteNumber("files", plan.TotalFiles);
                    w.WriteNumber("bytes", plan.TotalBytes);
                    w.WriteNumber("files_to_download", plan.FilesToDownload);
                    // What is left to fetch, as the dry run counts it: resumed files' bytes on disk are bytes_resumed.
                    w.WriteNumber("bytes_to_download", plan.BytesToDownload - plan.BytesOnDisk);
                    w.WriteNumber("bytes_resumed", plan.BytesOnDisk);
                    w.WriteNumber("files_to_verify", plan.FilesToVerify);
                    w.WriteNumber("bytes_to_verify", plan.BytesToVerify);
                    w.WriteNumber("files_present", plan.FilesAlreadyPresent);
                    w.WriteNumber("big_file_threshold", plan.BigFileThreshold);
                });
                break;
            case FileStarted started:
                _events.Write("file_started", w =>
                {
                    w.WriteString("path", started.Path);
                    w.WriteNumber("size", started.Size);
                    w.WriteBoolean("big", started.IsBig);
                    w.WriteNumber("resumed_bytes", started.ResumedBytes);
                });
                StartHeartbeat();
                break;
            case FileProgress or TransferStats:
                MaybeProgress(force: false);
                break;
            case FileCompleted done:
                _events.Write("file_done", w =>
                {
                    w.WriteString("path", done.Path);
                    w.WriteNumber("size", done.Size);
                    w.WriteString("hash", done.Hash);
                    w.WriteBoolean("verified", true);
                    w.WriteNumber("seconds", Math.Round(done.Elapsed.TotalSeconds, 3));
                    w.WriteNumber("bytes_per_second", Math.Round(done.Elapsed.TotalSeconds > 0 ? done.Size / done.Elapsed.TotalSeconds : 0));
                });
                break;
            case FileSkipped skipped:
                _events.Write("file_skipped", w =>
                {
                    w.WriteString("path", skipped.Path);
                    w.WriteNumber("size", skipped.Size);
                    w.WriteString("reason", JsonEvents.Words(skipped.Reason));
                });
                break;
            case FileRetrying retry:
                Retry("retry", "path", retry.Path, retry.Attempt, retry.Reason, retry.Delay);
                break;
            case RequestRetrying retry:
                Retry("request_retry", "request", retry.Request, retry.Attempt, retry.Reason, retry.Delay);
                break;
            case FileFailed failed:
                _events.Error(failed.Error, HfdlCommand.ExitFailure, failed.Path, failed.Retryable);
                break;
            case Warning warning:
                _events.Warning(warning.Message);
                break;
            case WaitingForLock waiting:
                _events.Write("waiting_for_lock", w =>
                {
                    w.WriteString("folder", waiting.Folder);
                    w.WriteString("holder", waiting.Holder);
                });
                break;
            case FileVerified verified:
                _events.Write("verified", w =>
                {
                    w.WriteString("path", verified.Path);
                    w.WriteString("status", verified.Status.ToString().ToLowerInvariant());
                    if (verified.Detail is not null)
                    {
                        w.WriteString("detail", JsonEvents.Words(verified.Detail));
                    }
                });
                break;
            case DownloadFinished finished:
                MaybeProgress(force: true);
                Dispose();
                _events.Summary(finished.Summary, DownloadOutput.ExitCodeOf(finished.Summary));
                break;
        }
    }

    /// <summary>A retry of a file (<c>retry</c>, with its path) or of a metadata call (<c>request_retry</c>, in words).</summary>
    private void Retry(string name, string whatField, string what, int attempt, string reason, TimeSpan delay) => _events.Write(name, w =>
    {
        w.WriteString(whatField, what);
        w.WriteNumber("attempt", attempt);
        w.WriteString("reason", JsonEvents.Words(reason));
        w.WriteNumber("delay_seconds", Math.Round(delay.TotalSeconds, 3));
    });

    private void StartHeartbeat()
    {
        lock (_gate)
        {
            if (_heartbeat is null && !_finished)
            {
                _heartbeat = _time.CreateTimer(_ => Beat(), null, Heartbeat, Heartbeat);
            }
        }
    }

    private void Beat()
    {
        try
        {
            MaybeProgress(force: false, onlyWhileActive: true);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // On a timer's thread an exception would end the process: stdout gone is the run's to notice, not the beat's.
        }
    }

    /// <param name="force">Write it whenever the last one was.</param>
    /// <param name="onlyWhileActive">Only when a file is active (the heartbeat: nothing to say between files).</param>
    private void MaybeProgress(bool force, bool onlyWhileActive = false)
    {
        // Written under the gate: once Dispose returned, no progress line can follow the summary or the fatal error.
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if (_finished || (!force && _time.GetElapsedTime(_lastProgress, now) < _interval))
            {
                return;
            }
            var snapshot = _model.Snapshot();
            if (onlyWhileActive && snapshot.Active.Count == 0)
            {
                return;
            }
            _lastProgress = now;
            WriteProgress(snapshot);
        }
    }

    private void WriteProgress(ProgressSnapshot snapshot) => _events.Write("progress", w =>
    {
        w.WriteNumber("bytes_done", snapshot.BytesDone);
        w.WriteNumber("bytes_total", snapshot.BytesTotal);
        w.WriteNumber("bytes_per_second", Math.Round(snapshot.BytesPerSecond));
        if (snapshot.Eta is { } eta)
        {
            w.WriteNumber("eta_seconds", Math.Round(eta.TotalSeconds, 1));
        }
        else
        {
            w.WriteNull("eta_seconds");
        }
        w.WriteNumber("files_done", snapshot.FilesDone);
        w.WriteNumber("files_skipped", snapshot.FilesSkipped);
        w.WriteNumber("files_failed", snapshot.FilesFailed);
        w.WriteStartArray("active");
        foreach (var file in snapshot.Active)
        {
            w.WriteStartObject();
            w.WriteString("path", file.Path);
            w.WriteNumber("bytes_done", file.Done);
            w.WriteNumber("size", file.Size);
            w.WriteNumber("bytes_per_second", Math.Round(file.BytesPerSecond));
            w.WriteBoolean("stalled", file.StalledFor is not null);
            w.WriteBoolean("waiting", file.WaitingForConnection);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (snapshot.Connections is { } c)
        {
            w.WriteNumber("connections", c.Connections);
        }
    });
}

/// <summary>UTF-8 bytes into a <see cref="TextWriter"/>, decoded as they come (a character split between writes is kept).</summary>
internal sealed class TextWriterStream(TextWriter output) : Stream
{
    private readonly Decoder _decoder = new UTF8Encoding(false).GetDecoder();
    private char[] _chars = new char[4096];

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        var needed = _decoder.GetCharCount(buffer, flush: false);
        if (_chars.Length < needed)
        {
            _chars = new char[needed];
        }
        var count = _decoder.GetChars(buffer, _chars, flush: false);
        output.Write(_chars, 0, count);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush() => output.Flush();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
