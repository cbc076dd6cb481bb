using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Hfdl.Core.Xet;

namespace Hfdl.Core.Transfer;

/// <summary>
/// A big file's native Xet download. The file itself is an ordinary <see cref="BigFileJob"/> (preallocated temporary
/// file, segment table, hash that follows the written prefix, journal checkpoints, the <see cref="CommitStep"/>); this
/// adds where its bytes come from. The file's reconstruction is asked for in windows of
/// <see cref="DownloadOptions.XetWindowBytes"/> (the next one when the units of the current one are all handed out, so
/// memory stays bounded for any size), each planned with <see cref="XetFilePlan"/> into units: one signed xorb range
/// each, and the terms it serves. The scheduler's pool takes units like segments (<see cref="TakeUnit"/>); a unit
/// takes the unwritten bytes of its terms from the segment table, so what an earlier run wrote (the journal) is not
/// fetched again, then serves them from the chunk cache or fetches its range through <see cref="RangeFetch"/> and
/// decodes it as it arrives. Any failure turns the job back into a plain one (<see cref="FallBack"/>): the pool then
/// fetches the bytes still unwritten over plain HTTPS, and the whole file is verified as always.
/// </summary>
internal sealed class XetFileJob
{
    private readonly XetSession _session;
    private readonly BigFileJob _job;
    private string? _fileHash;
    private readonly object _gate = new();
    private readonly Queue<XetUnit> _ready = new();
    private readonly Queue<XetUnit> _cached = new();
    private readonly List<CachedRange> _cacheUsed = [];
    private CancellationToken _runToken;
    private long _nextWindow;
    private bool _loading;
    private int _inFlight;
    private int _active = 1;
    private int _cacheLanes;
    private int _leftToPlain;
    private Exception? _unitFailure;

    /// <summary>
    /// The Hub's plain-HTTPS bridge serves Xet-backed files up to about 50 GB (hub-api.md §9): a bigger file's
    /// half-written units are fetched again whole rather than left to a path that may refuse them.
    /// </summary>
    private const long PlainBridgeLimit = 50L * 1000 * 1000 * 1000;

    /// <summary>Cache lanes per file: reading, checking and writing cached chunks is CPU work, one lane per core.</summary>
    private static int CacheLanes => Math.Max(1, Environment.ProcessorCount);

    public XetFileJob(XetSession session, BigFileJob job)
    {
        _session = session;
        _job = job;
        _fileHash = job.File.XetHash;
        Context = session.ContextFor(job.File.Path);
    }

    public string FilePath => _job.File.Path;

    /// <summary>Who is asked, for error messages (the Hub token is in it only to be masked: xorb URLs never get it).</summary>
    public HubRequestContext Context { get; }

    /// <summary>Native Xet still serves this file (no failure yet).</summary>
    public bool IsActive => Volatile.Read(ref _active) == 1;

    /// <summary>A unit is ready to be taken.</summary>
    public bool HasUnits
    {
        get
        {
            lock (_gate)
            {
                return IsActive && _ready.Count > 0;
            }
        }
    }

    /// <summary>Starts asking for the first window's reconstruction.</summary>
    public void Start(CancellationToken runToken)
    {
        _runToken = runToken;
        lock (_gate)
        {
            LoadNextLocked();
        }
    }

    /// <summary>The next unit to fetch, or null (none ready yet, all taken, or Xet failed).</summary>
    public XetUnit? TakeUnit()
    {
        lock (_gate)
        {
            if (!IsActive)
            {
                return null;
            }
            if (_ready.TryDequeue(out var unit))
            {
                _inFlight++;
                if (_ready.Count == 0)
                {
                    // Prefetch: the next window's reconstruction arrives while this one's last units are fetched.
                    LoadNextLocked();
                }
                return unit;
            }
            LoadNextLocked();
            return null;
        }
    }

    private void LoadNextLocked()
    {
        if (_loading || _nextWindow >= _job.File.Size || !IsActive)
        {
            return;
        }
        _loading = true;
        var start = _nextWindow;
        _ = Task.Run(() => LoadAsync(start));
    }

    private async Task LoadAsync(long start)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_runToken, _job.FailedToken);
        try
        {
            var hash = _fileHash;
            if (hash is null)
            {
                // No Xet hash in the listing (none, or redacted): the resolve answer may say the file is Xet-backed
                // (X-Xet-Hash). The plain path asks the same question first, so this costs no request of its own.
                try
                {
                    await _job.Source.GetUrlAsync(linked.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HfdlException && !linked.IsCancellationRequested)
                {
                    // The plain path meets the same answer and says what it means (no access, gone...): no Xet warning.
                }
                if ((hash = _fileHash = _job.Source.XetHash) is null)
                {
                    Interlocked.Exchange(ref _active, 0); // A plain LFS file: not a failure, nothing to say.
                    return;
                }
            }
            var size = _job.File.Size;
            var windowBytes = Math.Max(1, _session.Options.XetWindowBytes);
            while (start < size)
            {
                var end = Math.Min(size, start + windowBytes);
                if (IsWritten(start, end))
                {
                    start = end; // Resumed: an earlier run wrote this window already.
                    continue;
                }
                var window = await XetWindow.LoadAsync(_session, hash, start, end, linked.Token).ConfigureAwait(false);
                var written = _job.Checkpoint() ?? [];
                var lanes = 0;
                lock (_gate)
                {
                    foreach (var unit in window.Units(this))
                    {
                        if (IsCached(unit))
                        {
                            _cached.Enqueue(unit);
                        }
                        else if (_job.File.Size < PlainBridgeLimit && IsPartlyWritten(unit, written))
                        {
                            _leftToPlain++;
                        }
                        else
                        {
                            _ready.Enqueue(unit);
                        }
                    }
                    _nextWindow = end;
                    _loading = false;
                    if (_ready.Count == 0)
                    {
                        // No network unit to take, so no TakeUnit asks for the next window: ask now.
                        LoadNextLocked();
                    }
                    while (_cached.Count > lanes && _cacheLanes + lanes < CacheLanes)
                    {
                        lanes++;
                    }
                    _cacheLanes += lanes;
                    _inFlight += lanes;
                }
                for (var i = 0; i < lanes; i++)
                {
                    _ = Task.Run(CacheLaneAsync);
                }
                CheckFinished();
                return;
            }
            lock (_gate)
            {
                _nextWindow = size;
                _loading = false;
            }
            CheckFinished();
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            FallBack(ex);
        }
    }

    /// <summary>
    /// Whether the chunk cache holds every range of <paramref name="unit"/> (all the chunks its terms use). Such a unit
    /// needs no connection: it goes to the cache lanes, which serve it at the speed of the disk and the CPU, while the
    /// pool's connections, sized by the network's rate, fetch the rest.
    /// </summary>
    private bool IsCached(XetUnit unit)
    {
        if (_session.Cache is not { } cache)
        {
            return false;
        }
        foreach (var part in unit.Parts)
        {
            if (part.Terms.Length == 0)
            {
                continue;
            }
            var first = part.Terms.Min(t => t.FirstChunk);
            var end = part.Terms.Max(t => t.FirstChunk + t.ChunkCount);
            if (cache.Find(part.Xorb, part.Range.ChunkStart + first, part.Range.ChunkStart + end) is null)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// One cache lane: serves units from the chunk cache until none is left. A unit the cache turns out not to hold
    /// after all (an entry evicted by another process, or found damaged) goes to the pool's connections, which fetch
    /// what is still unwritten.
    /// </summary>
    private async Task CacheLaneAsync()
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_runToken, _job.FailedToken);
        try
        {
            while (true)
            {
                XetUnit? unit;
                lock (_gate)
                {
                    if (!IsActive || !_cached.TryDequeue(out unit))
                    {
                        return;
                    }
                }
                if (!await TryServeUnitFromCacheAsync(unit, linked.Token).ConfigureAwait(false))
                {
                    lock (_gate)
                    {
                        _ready.Enqueue(unit);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (TransientFaults.IsDiskFull(ex) || ex is DiskFullException)
        {
            _job.Fail(ex as DiskFullException ?? new DiskFullException(_job.FinalPath, ex));
        }
        catch (Exception ex)
        {
            FallBack(ex);
        }
        finally
        {
            lock (_gate)
            {
                _cacheLanes--;
                _inFlight--;
            }
            CheckFinished();
        }
    }

    /// <summary>Serves every range of <paramref name="unit"/> with unwritten bytes from the cache; false when one could not be.</summary>
    private async Task<bool> TryServeUnitFromCacheAsync(XetUnit unit, CancellationToken cancellationToken)
    {
        using var stage = new XetWriteStage();
        var writers = Array.ConvertAll(unit.Parts, part => new XetUnitWriter(_job, part, stage));
        try
        {
            long used = 0;
            for (var i = 0; i < writers.Length; i++)
            {
                if (writers[i].HasWork)
                {
                    var (served, bytes) = await TryServeFromCacheAsync(unit.Parts[i], writers[i], stage, cancellationToken).ConfigureAwait(false);
                    if (served != CacheServe.Served)
                    {
                        // The unit goes to the network, which brings all its ranges: none of it was saved.
                        return false;
                    }
                    used += bytes;
                }
            }
            _session.CountFromCache(used);
            return true;
        }
        finally
        {
            foreach (var writer in writers)
            {
                writer.Release();
            }
        }
    }

    /// <summary>
    /// Whether the file's terms use every chunk of <paramref name="part"/>'s range: only such a range is kept in the chunk
    /// cache. Chunks of a range that no term uses (a fetch entry wider than its terms, or a gap between them) are checked
    /// by no file's sha256, and a hostile CAS could have a later file built from them (QA: the file then failed its
    /// hash and was fetched again whole).
    /// </summary>
    private static bool TermsUseWholeRange(XetPart part)
    {
        var used = new bool[part.Range.ChunkCount];
        foreach (var term in part.Terms)
        {
            for (var chunk = Math.Max(0, term.FirstChunk); chunk < Math.Min(used.Length, term.FirstChunk + term.ChunkCount); chunk++)
            {
                used[chunk] = true;
            }
        }
        return Array.TrueForAll(used, u => u);
    }

    /// <summary>
    /// Whether an earlier run wrote some but not all of the bytes <paramref name="unit"/> serves. Its signed range can
    /// only be fetched whole, from its first byte, so a kill -9 while every unit of a file was in flight would cost the
    /// whole file again; such a unit's unwritten bytes are left to the plain path instead, which fetches exactly them
    /// (<see cref="CheckFinished"/>), for files the plain bridge serves (<see cref="PlainBridgeLimit"/>). Only the chunk
    /// cache misses them.
    /// </summary>
    private static bool IsPartlyWritten(XetUnit unit, List<(long Start, long End)> written)
    {
        if (written.Count == 0)
        {
            return false;
        }
        long total = 0;
        long done = 0;
        foreach (var part in unit.Parts)
        {
            foreach (var term in part.Terms)
            {
                var start = part.Window.Start + term.OutputOffset;
                var end = start + term.Take;
                total += end - start;
                foreach (var (from, to) in written)
                {
                    done += Math.Max(0, Math.Min(end, to) - Math.Max(start, from));
                }
            }
        }
        return done > 0 && done < total;
    }

    private bool IsWritten(long start, long end) =>
        _job.Checkpoint() is { } ranges && ranges.Exists(r => r.Start <= start && r.End >= end);

    /// <summary>
    /// When every window is planned and every unit ran but bytes are still unwritten (a reconstruction that skipped some,
    /// or a unit that found its bytes owned by someone else), the plain path fetches them.
    /// </summary>
    private void CheckFinished()
    {
        lock (_gate)
        {
            if (!IsActive || _loading || _ready.Count > 0 || _cached.Count > 0 || _inFlight > 0 || _nextWindow < _job.File.Size || _job.Table.IsComplete)
            {
                return;
            }
        }
        if (Volatile.Read(ref _leftToPlain) > 0)
        {
            // Resumed: the units an earlier run left half-written were kept for the plain path, which takes them now.
            // Not a failure, so nothing to warn about.
            Stop();
            return;
        }
        // A unit that failed left its bytes unwritten: its error is the cause (its caller falls back with it, but a
        // cache lane or a window may get here first).
        FallBack(Volatile.Read(ref _unitFailure) ?? new XetUnavailableException("the reconstruction left bytes of the file unwritten"));
    }

    /// <summary>Native Xet serves this file no more; true for the call that stopped it.</summary>
    private bool Stop()
    {
        if (Interlocked.Exchange(ref _active, 0) == 0)
        {
            return false;
        }
        lock (_gate)
        {
            _ready.Clear();
            _cached.Clear();
        }
        return true;
    }

    /// <summary>
    /// Native Xet failed for this file: from now on the pool fetches its unwritten bytes over plain HTTPS (what Xet
    /// wrote stays; the whole file's sha256 decides, and a mismatch fetches it again, plainly). Said once, as a warning.
    /// </summary>
    public void FallBack(Exception reason)
    {
        if (!Stop())
        {
            return;
        }
        if (_runToken.IsCancellationRequested || _job.FailedToken.IsCancellationRequested)
        {
            // The run is stopping (Ctrl+C, a signal, a fatal error) or the file failed for a reason of its own: units
            // cut short leave bytes unwritten, and that is no failure of Xet. The journal keeps what was written.
            return;
        }
        // A transfer's I/O error in the words of its retries ("The response ended prematurely..."); anything else (a
        // bug) with its type, for a report.
        var why = reason is HfdlException or HttpRequestException or IOException ? TransientFaults.Describe(reason) : $"{reason.GetType().Name}: {reason.Message}";
        _session.Progress?.Report(new Warning($"Native Xet failed for '{_job.File.Path}' ({why.TrimEnd('.')}); hfdl fetches the rest of it over plain HTTPS."));
    }

    /// <summary>The file did not verify: the cache entries it was built from may hold what a lying server sent, so they go.</summary>
    public void Discredit()
    {
        List<CachedRange> used;
        lock (_gate)
        {
            used = [.. _cacheUsed];
            _cacheUsed.Clear();
        }
        _session.Cache?.Discard(used);
    }

    /// <summary>
    /// Runs one unit (a signed fetch of one xorb, one or several ranges): takes each range's terms' unwritten bytes and
    /// serves them from the chunk cache when one entry holds all the chunks they need. Ranges the cache cannot serve
    /// come from the network: the fetch is sent with exactly its signed ranges (retried, each time from the start, as
    /// signed ranges must be), and its chunks are decoded as they arrive. Failures propagate: the caller falls back.
    /// </summary>
    public async Task RunUnitAsync(XetUnit unit, RangeFetch fetch, byte[] buffer, Action<int> onReceived, CancellationToken cancellationToken)
    {
        using var stage = new XetWriteStage();
        var writers = Array.ConvertAll(unit.Parts, part => new XetUnitWriter(_job, part, stage));
        var cacheEntries = new XetChunkCache.Writer?[writers.Length];
        var failed = false;
        try
        {
            var network = false;
            long fromCache = 0;
            var wanted = new XetUnitWriter?[writers.Length];
            for (var i = 0; i < writers.Length; i++)
            {
                var (served, bytes) = writers[i].HasWork ? await TryServeFromCacheAsync(unit.Parts[i], writers[i], stage, cancellationToken).ConfigureAwait(false) : (CacheServe.Served, 0L);
                fromCache += bytes;
                if (served == CacheServe.Unusable)
                {
                    // The writer's chunk positions are no longer those of the range's start: the unit runs again with
                    // fresh writers, which take only what is still unwritten (the entry is gone, so from the network).
                    lock (_gate)
                    {
                        _ready.Enqueue(unit);
                    }
                    return;
                }
                if (served == CacheServe.Missed)
                {
                    wanted[i] = writers[i];
                    network = true;
                }
            }
            if (!network)
            {
                _session.CountFromCache(fromCache);
                return;
            }
            // The signed fetch brings every range of the unit, those the cache served too: they count as fetched.
            for (var i = 0; i < writers.Length; i++)
            {
                // What comes over the network is kept, except ranges the cache already holds (they came from it).
                if ((wanted[i] is not null || !writers[i].HasWork) && TermsUseWholeRange(unit.Parts[i]))
                {
                    cacheEntries[i] = _session.Cache?.Begin(unit.Xorb, unit.Parts[i].Range.ChunkStart, unit.Parts[i].Range.ChunkEnd);
                }
            }
            using var target = new XorbRangeTarget(_job, unit, wanted, cacheEntries);
            var outcome = await fetch.FetchAsync(unit.Source, target, _job.Budget, buffer, read =>
            {
                _session.CountFetched(read);
                onReceived(read);
            }, cancellationToken).ConfigureAwait(false);
            if (outcome == FetchOutcome.Stale)
            {
                return;
            }
            await stage.FlushAsync(cancellationToken).ConfigureAwait(false);
            target.Finish();
            foreach (var writer in wanted)
            {
                writer?.Finish();
            }
            foreach (var entry in cacheEntries)
            {
                if (entry?.Commit() is { } added)
                {
                    lock (_gate)
                    {
                        _cacheUsed.Add(added);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The caller falls back with this error (or fails the file, on a full disk). Checking here whether the file
            // is finished would come first, find this unit's bytes unwritten and none in flight, and blame the
            // reconstruction for them (QA: a CDN's wrong Content-Length, dropped connections and ignored ranges were all
            // reported as "the reconstruction left bytes of the file unwritten").
            failed = true;
            Volatile.Write(ref _unitFailure, ex);
            throw;
        }
        finally
        {
            foreach (var entry in cacheEntries)
            {
                entry?.Dispose();
            }
            foreach (var writer in writers)
            {
                writer.Release();
            }
            lock (_gate)
            {
                _inFlight--;
            }
            if (!failed)
            {
                CheckFinished();
            }
        }
    }

    /// <summary>How a range fared in the chunk cache.</summary>
    private enum CacheServe
    {
        /// <summary>Its terms' unwritten bytes are written from an entry.</summary>
        Served,

        /// <summary>No entry, or a damaged one (the chunks before the damage are written; the writer goes on from the network).</summary>
        Missed,

        /// <summary>
        /// The entry passed its checksums but its chunks do not decode, or not to the lengths the reconstruction
        /// promised: local data gone wrong (a checksum is no proof against a rewritten entry), so it is dropped, and
        /// the writer, left mid-chunk, is of no further use.
        /// </summary>
        Unusable,
    }

    /// <summary>
    /// Serves <paramref name="part"/>'s unwritten bytes from the chunk cache when an entry holds its chunks; with the
    /// stored bytes of the chunks that gave the file bytes it lacked (what the network would have carried for them).
    /// The caller counts them as read from the cache only when the whole unit needed no network.
    /// </summary>
    private async Task<(CacheServe Served, long UsedBytes)> TryServeFromCacheAsync(XetPart part, XetUnitWriter writer, XetWriteStage stage, CancellationToken cancellationToken)
    {
        if (_session.Cache is not { } cache)
        {
            return (CacheServe.Missed, 0);
        }
        var (first, end) = writer.NeededChunks;
        var entry = cache.Find(part.Xorb, part.Range.ChunkStart + first, part.Range.ChunkStart + end);
        if (entry is null)
        {
            return (CacheServe.Missed, 0);
        }
        using var reader = cache.Open(entry, part.Range.ChunkStart + first, part.Range.ChunkStart + end);
        if (reader is null)
        {
            return (CacheServe.Missed, 0);
        }
        long used = 0;
        try
        {
            for (var chunk = first; reader.Next(out var bytes); chunk++)
            {
                if (await writer.OnChunkAsync(chunk, bytes, cancellationToken).ConfigureAwait(false))
                {
                    used += bytes.Length;
                }
            }
            await stage.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (!reader.Damaged)
            {
                writer.Finish();
            }
        }
        catch (Exception ex) when (ex is XetFormatException or XetUnavailableException or InvalidDataException or OverflowException or ArgumentException)
        {
            // Never the server's fault (it sent these chunks, and their file verified): the entry goes, the Hub serves them again.
            cache.Discard([entry]);
            return (CacheServe.Unusable, 0);
        }
        if (reader.Damaged)
        {
            // Chunks before the damage were good and are written; the network brings the rest (and them again).
            return (CacheServe.Missed, 0);
        }
        lock (_gate)
        {
            _cacheUsed.Add(entry);
        }
        return (CacheServe.Served, used);
    }
}

/// <summary>One window of a file's reconstruction: its plan, and the signed URLs of its fetches (renewed when refused).</summary>
internal sealed class XetWindow
{
    private readonly XetSession _session;
    private readonly string _fileHash;
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private Dictionary<(XetHash Xorb, string Ranges), Uri> _urls;

    private XetWindow(XetSession session, string fileHash, long start, long end, XetFilePlan plan, XetReconstruction reconstruction)
    {
        _session = session;
        _fileHash = fileHash;
        Start = start;
        End = end;
        Plan = plan;
        _urls = UrlsOf(reconstruction);
    }

    public long Start { get; }

    public long End { get; }

    public XetFilePlan Plan { get; }

    public static async Task<XetWindow> LoadAsync(XetSession session, string fileHash, long start, long end, CancellationToken cancellationToken)
    {
        var reconstruction = await session.ReconstructionAsync(fileHash, start, end - 1, cancellationToken).ConfigureAwait(false);
        XetFilePlan plan;
        try
        {
            plan = XetFilePlan.Create(reconstruction, end - start);
        }
        catch (XetFormatException ex)
        {
            throw new XetUnavailableException(ex.Message, ex);
        }
        return new XetWindow(session, fileHash, start, end, plan, reconstruction);
    }

    /// <summary>The units of this window: one per signed fetch (all its ranges), with the terms each range serves, in the order terms first need them.</summary>
    public IEnumerable<XetUnit> Units(XetFileJob owner)
    {
        var terms = Plan.Terms.ToLookup(t => (t.FetchIndex, t.RangeIndex));
        for (var f = 0; f < Plan.Fetches.Count; f++)
        {
            var fetch = Plan.Fetches[f];
            var parts = new XetPart[fetch.Ranges.Count];
            for (var r = 0; r < parts.Length; r++)
            {
                parts[r] = new XetPart(owner, this, fetch.Xorb, fetch.Ranges[r], terms[(f, r)].ToArray());
            }
            yield return new XetUnit(owner, this, fetch, parts);
        }
    }

    public Uri UrlOf(XetUnit unit) =>
        Volatile.Read(ref _urls).GetValueOrDefault((unit.Xorb, unit.Fetch.RangeHeader))
        ?? throw new XetUnavailableException($"the renewed reconstruction no longer holds {unit.Fetch.RangeHeader} of xorb {unit.Xorb}");

    /// <summary>The CDN refused <paramref name="refused"/> (signed URLs expire): asks for the window's reconstruction again, once for all its units.</summary>
    public async Task RenewAsync(Uri refused, XetUnit unit, CancellationToken cancellationToken)
    {
        await _refresh.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (UrlOf(unit) != refused)
            {
                return; // Another unit renewed them meanwhile.
            }
            var reconstruction = await _session.ReconstructionAsync(_fileHash, Start, End - 1, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _urls, UrlsOf(reconstruction));
        }
        finally
        {
            _refresh.Release();
        }
    }

    private static Dictionary<(XetHash, string), Uri> UrlsOf(XetReconstruction reconstruction)
    {
        var urls = new Dictionary<(XetHash, string), Uri>();
        foreach (var fetch in reconstruction.Fetches)
        {
            urls.TryAdd((fetch.Xorb, fetch.RangeHeader), fetch.Url);
        }
        return urls;
    }
}

/// <summary>One signed fetch of a xorb (one or several ranges, asked for at once): what one connection of the pool fetches at a time.</summary>
internal sealed class XetUnit
{
    public XetUnit(XetFileJob owner, XetWindow window, XetFetch fetch, XetPart[] parts)
    {
        Owner = owner;
        Window = window;
        Fetch = fetch;
        Parts = parts;
        Source = new XorbRangeSource(this);
    }

    public XetFileJob Owner { get; }

    public XetWindow Window { get; }

    public XetFetch Fetch { get; }

    public XetHash Xorb => Fetch.Xorb;

    /// <summary>One per range of <see cref="Fetch"/>, in its order.</summary>
    public XetPart[] Parts { get; }

    public XorbRangeSource Source { get; }
}

/// <summary>One range of a signed fetch and the terms of the file it serves (none: a range the fetch must name, unused in this window).</summary>
internal sealed class XetPart(XetFileJob owner, XetWindow window, XetHash xorb, XetFetchRange range, XetPlannedTerm[] terms)
{
    public XetFileJob Owner => owner;

    public XetWindow Window => window;

    public XetHash Xorb => xorb;

    public XetFetchRange Range => range;

    /// <summary>The terms this range serves; their <see cref="XetPlannedTerm.OutputOffset"/> counts from the window's start.</summary>
    public XetPlannedTerm[] Terms => terms;
}

/// <summary>
/// A xorb range's signed URL as the source of a <see cref="RangeFetch"/>: sent as signed, with no token at all; when
/// the CDN refuses it (expired), the window's reconstruction is asked for again and the renewed URL used.
/// </summary>
internal sealed class XorbRangeSource(XetUnit unit) : IFetchSource
{
    private Uri? _refused;

    public string Path => unit.Owner.FilePath;

    public HubRequestContext Context => unit.Owner.Context;

    public bool SendsHubToken => false;

    public string? Storage => $"xorb {unit.Xorb.ToString()[..12]}... of '{unit.Owner.FilePath}'";

    public async ValueTask<Uri> GetUrlAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _refused, null) is { } refused)
        {
            await unit.Window.RenewAsync(refused, unit, cancellationToken).ConfigureAwait(false);
        }
        return unit.Window.UrlOf(unit);
    }

    public void Invalidate(Uri refused) => Volatile.Write(ref _refused, refused);
}
