namespace Hfdl.Hub.Mirror;

/// <summary>
/// The blobs of the store in the order they were last used, and their total size. With a bound (<c>--max-size</c>),
/// every blob that arrives evicts the least recently used others until the store fits: the blob goes with the snapshot
/// links that point at it, under the repo folder's lock, so the cache stays consistent for huggingface_hub too (a
/// snapshot then simply lacks that file, which the mirror fetches again when asked).
/// </summary>
internal sealed class BlobLru(long? maxSize, MirrorLog log, MirrorMetrics metrics)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _blobs = new(StringComparer.Ordinal);
    private long _clock;
    private long _total;
    private int _evicting;

    /// <summary>Evicts under the repo's session; set by the server (the sessions need the store first).</summary>
    public Func<MirrorRepo, Func<Task>, Task>? UnderRepoLock { get; set; }

    public long TotalBytes => Interlocked.Read(ref _total);

    private sealed class Entry(MirrorRepo repo, long size, long used)
    {
        public MirrorRepo Repo { get; } = repo;

        public long Size { get; } = size;

        public long Used { get; set; } = used;
    }

    /// <summary>Learns the blobs already in the store, oldest use first (the later of their access and write times).</summary>
    public void Scan(MirrorStore store)
    {
        var found = new List<(MirrorRepo Repo, string Path, long Size, DateTime Used)>();
        foreach (var (repo, folder) in store.Repos())
        {
            var blobs = Path.Combine(folder, "blobs");
            if (!Directory.Exists(blobs))
            {
                continue;
            }
            foreach (var info in new DirectoryInfo(blobs).EnumerateFiles())
            {
                if (info.LinkTarget is null && Core.Integrity.ContentHash.TryFromEtag(info.Name, out _))
                {
                    found.Add((repo, info.FullName, info.Length, info.LastAccessTimeUtc > info.LastWriteTimeUtc ? info.LastAccessTimeUtc : info.LastWriteTimeUtc));
                }
            }
        }
        lock (_gate)
        {
            foreach (var blob in found.OrderBy(b => b.Used))
            {
                Add(blob.Repo, blob.Path, blob.Size);
            }
        }
    }

    /// <summary>A stored blob was served: it becomes the most recently used.</summary>
    public void Touch(MirrorRepo repo, string path, long size)
    {
        lock (_gate)
        {
            Add(repo, path, size);
        }
    }

    /// <summary>A blob was stored: it is the most recently used, and the least recently used others go while the store is too large.</summary>
    public void Added(MirrorRepo repo, string path, long size)
    {
        lock (_gate)
        {
            Add(repo, path, size);
        }
        EvictWhileOver();
    }

    /// <summary>
    /// Starts evicting the least recently used blobs when the store is over the bound: after each blob stored, and at
    /// the start (a store scanned over a bound made smaller since shrinks then, not only once a new file arrives).
    /// </summary>
    public void EvictWhileOver()
    {
        if (maxSize is not null && TotalBytes > maxSize && Interlocked.Exchange(ref _evicting, 1) == 0)
        {
            _ = Task.Run(EvictAsync);
        }
    }

    private void Add(MirrorRepo repo, string path, long size)
    {
        if (_blobs.TryGetValue(path, out var entry))
        {
            entry.Used = ++_clock;
            return;
        }
        _blobs[path] = new Entry(repo, size, ++_clock);
        _total += size;
    }

    private async Task EvictAsync()
    {
        try
        {
            while (true)
            {
                KeyValuePair<string, Entry> oldest;
                lock (_gate)
                {
                    // The most recent blob stays even alone over the bound: it is what a client is being served.
                    if (_total <= maxSize || _blobs.Count <= 1)
                    {
                        if (_total > maxSize)
                        {
                            log.Write("warning", ("message", $"The store holds one blob of {_total:N0} bytes, more than --max-size ({maxSize:N0}); it is kept."));
                        }
                        return;
                    }
                    // Out of the index before it goes: a client that stores or serves the same blob meanwhile makes a
                    // new entry, which the deletion below respects, and which stays counted.
                    oldest = _blobs.MinBy(b => b.Value.Used);
                    _blobs.Remove(oldest.Key);
                    _total -= oldest.Value.Size;
                }
                var (path, entry) = (oldest.Key, oldest.Value);
                var evicted = false;
                try
                {
                    if (UnderRepoLock is { } underLock)
                    {
                        await underLock(entry.Repo, () => Task.Run(() => evicted = DeleteUnlessUsed(path))).ConfigureAwait(false);
                    }
                    else
                    {
                        evicted = DeleteUnlessUsed(path);
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HfdlException)
                {
                    log.Write("warning", ("repo", entry.Repo.ToString()), ("message", $"The blob {Path.GetFileName(path)} could not be evicted: {ex.Message}"));
                    lock (_gate)
                    {
                        // Still there: counted again (unless someone used it meanwhile, which counted it already).
                        if (File.Exists(path) && _blobs.TryAdd(path, entry))
                        {
                            _total += entry.Size;
                        }
                    }
                }
                if (evicted)
                {
                    // Counted once the index agrees, so whoever watches the count finds the blob gone everywhere.
                    metrics.Evicted(entry.Size);
                    log.Write("evicted", ("repo", entry.Repo.ToString()), ("blob", Path.GetFileName(path)), ("size", entry.Size));
                }
            }
        }
        finally
        {
            Volatile.Write(ref _evicting, 0);
        }
    }

    /// <summary>Deletes the blob (under its repo's lock, so no transfer stores it meanwhile) unless it was stored or served again since it was picked.</summary>
    private bool DeleteUnlessUsed(string blob)
    {
        lock (_gate)
        {
            if (_blobs.ContainsKey(blob))
            {
                return false;
            }
        }
        Delete(blob);
        lock (_gate)
        {
            // Served in the instant between the check and the deletion: the entry names a blob that is gone.
            if (_blobs.Remove(blob, out var served))
            {
                _total -= served.Size;
            }
        }
        return true;
    }

    /// <summary>Removes the snapshot links that point at the blob, then the blob (readers that have it open keep reading it).</summary>
    private static void Delete(string blob)
    {
        var snapshots = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(blob)!)!, "snapshots");
        if (Directory.Exists(snapshots))
        {
            foreach (var entry in Directory.EnumerateFiles(snapshots, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.None }))
            {
                if (new FileInfo(entry).LinkTarget is { } target
                    && string.Equals(Path.GetFullPath(target, Path.GetDirectoryName(entry)!), blob, StringComparison.Ordinal))
                {
                    File.Delete(entry);
                }
            }
        }
        File.Delete(blob);
    }
}
