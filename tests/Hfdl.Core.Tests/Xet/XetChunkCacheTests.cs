using Hfdl.Core.Xet;

namespace Hfdl.Core.Tests.Xet;

public sealed class XetChunkCacheTests : IDisposable
{
    private readonly TempDirectory _root = new();

    public void Dispose() => _root.Dispose();

    private static XetHash Xorb(byte seed) => XetHash.FromBytes(Enumerable.Repeat(seed, XetHash.Size).ToArray());

    /// <summary>Another xorb in the same fan-out folder as <c>Xorb(seed)</c>: only its last byte differs.</summary>
    private static XetHash XorbBeside(byte seed, byte last)
    {
        var bytes = Enumerable.Repeat(seed, XetHash.Size).ToArray();
        bytes[^1] = last;
        return XetHash.FromBytes(bytes);
    }

    /// <summary>A serialized chunk (header and stored bytes, uncompressed) of <paramref name="length"/> bytes of <paramref name="value"/>.</summary>
    private static byte[] Chunk(int length, byte value)
    {
        var bytes = new byte[XorbChunkHeader.Size + length];
        new XorbChunkHeader(length, XetCompression.None, length).Write(bytes);
        bytes.AsSpan(XorbChunkHeader.Size).Fill(value);
        return bytes;
    }

    private static CachedRange Put(XetChunkCache cache, XetHash xorb, int first, int end, int chunkLength = 1000)
    {
        using var writer = cache.Begin(xorb, first, end)!;
        for (var i = first; i < end; i++)
        {
            writer.Append(Chunk(chunkLength, (byte)i));
        }
        return writer.Commit()!;
    }

    private static List<byte[]> ReadAll(XetChunkCache cache, CachedRange entry, int first, int end)
    {
        using var reader = cache.Open(entry, first, end);
        Assert.NotNull(reader);
        var chunks = new List<byte[]>();
        while (reader.Next(out var chunk))
        {
            chunks.Add(chunk.ToArray());
        }
        Assert.False(reader.Damaged);
        return chunks;
    }

    [Fact]
    public void An_entry_serves_any_chunk_range_inside_it_and_no_other()
    {
        var cache = new XetChunkCache(_root.Path, 1_000_000);
        var xorb = Xorb(1);
        Put(cache, xorb, 2, 8);

        var fresh = new XetChunkCache(_root.Path, 1_000_000);
        var entry = fresh.Find(xorb, 3, 5);

        Assert.NotNull(entry);
        Assert.Equal([Chunk(1000, 3), Chunk(1000, 4)], ReadAll(fresh, entry!, 3, 5));
        Assert.Null(fresh.Find(xorb, 1, 3));
        Assert.Null(fresh.Find(xorb, 7, 9));
        Assert.Null(fresh.Find(Xorb(2), 3, 5));
    }

    [Fact]
    public void A_large_entry_reads_back_bit_exact_even_after_its_fetch_started_over()
    {
        // Big enough for several of the blocks that bypass the page cache where the filesystem allows it, with an
        // unaligned header before them and a partial block after them.
        var cache = new XetChunkCache(_root.Path, 100_000_000);
        var chunks = Enumerable.Range(0, 23).Select(i => Chunk(65_536 + (i * 97), (byte)(i + 1))).ToList();
        using (var writer = cache.Begin(Xorb(40), 0, chunks.Count)!)
        {
            foreach (var chunk in chunks.Take(9))
            {
                writer.Append(Chunk(chunk.Length - XorbChunkHeader.Size, 0xEE)); // a first attempt, cut short
            }
            writer.Reset();
            foreach (var chunk in chunks)
            {
                writer.Append(chunk);
            }
            Assert.NotNull(writer.Commit());
        }

        var fresh = new XetChunkCache(_root.Path, 100_000_000);
        var entry = fresh.Find(Xorb(40), 0, chunks.Count);
        Assert.NotNull(entry);
        Assert.Equal(chunks, ReadAll(fresh, entry!, 0, chunks.Count));
    }

    [Fact]
    public void Borrowed_chunks_are_written_before_their_buffer_is_reused()
    {
        var cache = new XetChunkCache(_root.Path, 100_000_000);
        var chunks = Enumerable.Range(0, 12).Select(i => Chunk(40_000 + i, (byte)(i + 1))).ToList();
        var buffer = new byte[200_000];
        using (var writer = cache.Begin(Xorb(41), 0, chunks.Count)!)
        {
            for (var i = 0; i < chunks.Count; i++)
            {
                if (i % 3 == 2)
                {
                    writer.Append(chunks[i]); // copied, between borrowed ones
                    continue;
                }
                chunks[i].CopyTo(buffer, 0);
                writer.AppendBorrowed(buffer.AsMemory(0, chunks[i].Length));
                writer.WriteBorrowed();
                buffer.AsSpan().Fill(0xEE); // the owner reuses its buffer
            }
            Assert.NotNull(writer.Commit());
        }

        Assert.Equal(chunks, ReadAll(new XetChunkCache(_root.Path, 100_000_000), cache.Find(Xorb(41), 0, chunks.Count)!, 0, chunks.Count));
    }

    [Fact]
    public void An_entry_with_a_torn_or_altered_byte_is_refused_and_removed()
    {
        var cache = new XetChunkCache(_root.Path, 1_000_000);
        var entry = Put(cache, Xorb(3), 0, 4);
        var bytes = File.ReadAllBytes(entry.Path);
        bytes[^10] ^= 1;
        File.WriteAllBytes(entry.Path, bytes);

        using (var reader = cache.Open(entry, 0, 4))
        {
            var good = 0;
            while (reader!.Next(out _))
            {
                good++;
            }
            Assert.Equal(3, good); // the chunks before the damage were checked and good
            Assert.True(reader.Damaged);
        }

        Assert.False(File.Exists(entry.Path));
        Assert.Null(cache.Find(Xorb(3), 0, 1));
    }

    [Fact]
    public void An_entry_whose_header_lies_about_its_range_is_refused()
    {
        var cache = new XetChunkCache(_root.Path, 1_000_000);
        var entry = Put(cache, Xorb(4), 0, 4);
        var renamed = Path.Combine(Path.GetDirectoryName(entry.Path)!, "0-3");
        File.Move(entry.Path, renamed);

        var fresh = new XetChunkCache(_root.Path, 1_000_000);

        Assert.Null(fresh.Open(fresh.Find(Xorb(4), 0, 3)!, 0, 3));
        Assert.False(File.Exists(renamed));
    }

    [Fact]
    public void Eviction_keeps_the_cache_within_its_bound_least_recently_used_first()
    {
        var cache = new XetChunkCache(_root.Path, 25_000);
        var entries = Enumerable.Range(0, 4).Select(i => Put(cache, Xorb((byte)(10 + i)), 0, 10)).ToList(); // ~10 kB each
        for (var i = 0; i < entries.Count; i++)
        {
            File.SetLastWriteTimeUtc(entries[i].Path, DateTime.UtcNow.AddMinutes(-10 + i));
        }
        ReadAll(cache, entries[0], 0, 10); // used now: the most recent

        var removed = cache.Trim();

        Assert.True(removed > 0);
        Assert.True(File.Exists(entries[0].Path));
        Assert.True(File.Exists(entries[3].Path));
        Assert.False(File.Exists(entries[1].Path));
        Assert.False(File.Exists(entries[2].Path));
    }

    [Fact]
    public void A_link_in_place_of_an_entry_is_never_read_and_is_removed()
    {
        var cache = new XetChunkCache(_root.Path, 1_000_000);
        var entry = Put(cache, Xorb(5), 0, 2);
        var elsewhere = _root.Combine("elsewhere");
        File.Move(entry.Path, elsewhere);
        File.CreateSymbolicLink(entry.Path, elsewhere);

        Assert.Null(cache.Open(entry, 0, 2));
        Assert.False(File.Exists(entry.Path) || new FileInfo(entry.Path).LinkTarget is not null);
        Assert.True(File.Exists(elsewhere));
    }

    [Fact]
    public async Task A_fifo_in_place_of_an_entry_is_never_opened_and_is_removed()
    {
        var cache = new XetChunkCache(_root.Path, 1_000_000);
        var entry = Put(cache, Xorb(6), 0, 2);
        File.Delete(entry.Path);
        Assert.Equal(0, Mkfifo(entry.Path, Convert.ToUInt32("644", 8)));

        // Opening a FIFO for reading waits for a writer: the open must not be tried at all.
        var opened = await Task.Run(() => cache.Open(entry, 0, 2)).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Null(opened);
        Assert.False(File.Exists(entry.Path));
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int Mkfifo(string path, uint mode);

    [Fact]
    public void A_link_on_the_way_to_the_cache_folder_is_refused()
    {
        Directory.CreateDirectory(_root.Combine("target"));
        Directory.CreateSymbolicLink(_root.Combine(XetChunkCache.FolderName), _root.Combine("target"));
        var cache = new XetChunkCache(_root.Path, 1_000_000);

        Assert.Throws<Hfdl.Core.Storage.LinkInTargetException>(cache.CheckForLinks);
        Assert.Null(cache.Begin(Xorb(6), 0, 1));
        Assert.Empty(Directory.GetFileSystemEntries(_root.Combine("target")));
    }

    [Fact]
    public void A_file_at_the_cache_folder_name_is_left_alone_and_nothing_is_written_with_one_warning()
    {
        // The Xet cache root is shared with hf_xet and whoever else: a file of that name may be anyone's.
        var cache = new XetChunkCache(_root.Path, 1_000_000);
        var warnings = new List<string>();
        cache.OnWarning = warnings.Add;
        File.WriteAllText(cache.Folder, "precious\n");

        Assert.Null(cache.Begin(Xorb(7), 0, 1));
        Assert.Null(cache.Begin(Xorb(8), 0, 1));

        Assert.Equal("precious\n", File.ReadAllText(cache.Folder));
        var warning = Assert.Single(warnings);
        Assert.Contains($"'{cache.Folder}' is a file", warning, StringComparison.Ordinal);
        Assert.Contains("Move that file away", warning, StringComparison.Ordinal);
        Assert.Equal(0, cache.Trim());
        Assert.True(File.Exists(cache.Folder));
    }

    [Fact]
    public void A_link_planted_as_the_eviction_lock_is_not_followed_and_the_cache_is_not_trimmed()
    {
        var cache = new XetChunkCache(_root.Path, 1);
        var entry = Put(cache, Xorb(7), 0, 2);
        var target = _root.Combine("created-through-the-link");
        File.CreateSymbolicLink(Path.Combine(cache.Folder, ".evict.lock"), target); // dangling: opening it would create the target
        var warnings = new List<string>();
        cache.OnWarning = warnings.Add;

        Assert.Equal(0, cache.Trim());

        Assert.False(File.Exists(target));
        Assert.True(File.Exists(entry.Path));
        Assert.Contains(warnings, w => w.Contains(".evict.lock", StringComparison.Ordinal) && w.Contains("symbolic link", StringComparison.Ordinal));
    }

    [Fact]
    public void A_link_at_a_fan_out_folder_is_never_followed_to_read_touch_delete_or_evict()
    {
        var cache = new XetChunkCache(_root.Path, 1);
        var good = Put(cache, Xorb(8), 0, 2);
        var junk = Put(cache, XorbBeside(8, 1), 0, 2);
        var fanOut = Path.GetDirectoryName(Path.GetDirectoryName(good.Path))!;
        Assert.Equal(fanOut, Path.GetDirectoryName(Path.GetDirectoryName(junk.Path)));
        var elsewhere = _root.Combine("elsewhere");
        Directory.Move(fanOut, elsewhere);
        Directory.CreateSymbolicLink(fanOut, elsewhere);
        var goodBehind = Path.Combine(elsewhere, Path.GetRelativePath(fanOut, good.Path));
        var junkBehind = Path.Combine(elsewhere, Path.GetRelativePath(fanOut, junk.Path));
        File.WriteAllText(junkBehind, "junk\n");
        var old = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(goodBehind, old);
        var warnings = new List<string>();
        cache.OnWarning = warnings.Add;
        var fresh = new XetChunkCache(_root.Path, 1) { OnWarning = warnings.Add };

        Assert.Null(fresh.Find(Xorb(8), 0, 2));
        using (var reader = cache.Open(good, 0, 2)) // known to this process from before the link was planted
        {
            Assert.Null(reader);
        }
        Assert.Null(cache.Open(junk, 0, 2));
        cache.Discard([junk]);
        cache.Trim();

        Assert.Equal("junk\n", File.ReadAllText(junkBehind));
        Assert.True(File.Exists(goodBehind));
        Assert.Equal(old, File.GetLastWriteTimeUtc(goodBehind));
        Assert.Contains(warnings, w => w.Contains(fanOut, StringComparison.Ordinal) && w.Contains("symbolic link", StringComparison.Ordinal));
        Assert.Null(cache.Begin(XorbBeside(8, 2), 0, 1));
        Assert.Equal(2, Directory.GetFiles(elsewhere, "*", SearchOption.AllDirectories).Length);
    }

    [Fact]
    public void A_file_named_for_a_range_no_xorb_has_is_no_entry_and_is_dropped()
    {
        var cache = new XetChunkCache(_root.Path, 1_000_000);
        var entry = Put(cache, Xorb(9), 0, 2);
        var folder = Path.GetDirectoryName(entry.Path)!;
        string[] junk = ["0-200000000", "7-3", "0-99999999999"];
        foreach (var name in junk)
        {
            File.WriteAllText(Path.Combine(folder, name), "junk\n");
        }

        var fresh = new XetChunkCache(_root.Path, 1_000_000);

        Assert.Equal(entry.Path, fresh.Find(Xorb(9), 0, 2)?.Path);
        Assert.Null(fresh.Find(Xorb(9), 0, 5)); // 0-200000000 would "hold" it: reading its header overflowed, every run
        Assert.All(junk, name => Assert.False(File.Exists(Path.Combine(folder, name)), name));
    }

    [Fact]
    public void Obstacles_of_the_wrong_kind_in_the_cache_are_removed_and_every_entry_is_still_written()
    {
        var cache = new XetChunkCache(_root.Path, 1_000_000);
        var warnings = new List<string>();
        cache.OnWarning = warnings.Add;
        string XorbFolder(XetHash xorb) => Path.Combine(cache.Folder, xorb.ToString()[..2], xorb.ToString());
        Directory.CreateDirectory(cache.Folder);
        File.WriteAllText(Path.GetDirectoryName(XorbFolder(Xorb(0x20)))!, "a file where a fan-out folder belongs\n");
        Directory.CreateDirectory(Path.Combine(XorbFolder(Xorb(0x21)), "0-2", "inner")); // a folder at an entry's name
        Directory.CreateDirectory(Path.GetDirectoryName(XorbFolder(Xorb(0x22)))!);
        File.WriteAllText(XorbFolder(Xorb(0x22)), "a file where a xorb folder belongs\n");

        var entries = new[] { Put(cache, Xorb(0x20), 0, 2), Put(cache, Xorb(0x21), 0, 2), Put(cache, Xorb(0x22), 0, 2) };

        var fresh = new XetChunkCache(_root.Path, 1_000_000);
        foreach (var (entry, seed) in entries.Zip(new byte[] { 0x20, 0x21, 0x22 }))
        {
            Assert.NotNull(entry);
            var found = fresh.Find(Xorb(seed), 0, 2);
            Assert.NotNull(found);
            Assert.Equal([Chunk(1000, 0), Chunk(1000, 1)], ReadAll(fresh, found!, 0, 2));
        }
        Assert.Empty(warnings);
    }

    [Fact]
    public void A_folder_planted_as_the_eviction_lock_does_not_stop_eviction()
    {
        var cache = new XetChunkCache(_root.Path, 1);
        var entry = Put(cache, Xorb(0x30), 0, 2);
        Directory.CreateDirectory(Path.Combine(cache.Folder, ".evict.lock", "inner"));

        Assert.True(cache.Trim() > 0);

        Assert.False(File.Exists(entry.Path));
        Assert.True(File.Exists(Path.Combine(cache.Folder, ".evict.lock")));
    }
}
