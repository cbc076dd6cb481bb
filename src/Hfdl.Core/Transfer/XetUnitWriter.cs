using System.Buffers;
using Hfdl.Core.Xet;

namespace Hfdl.Core.Transfer;

/// <summary>
/// Writes the terms of one <see cref="XetPart"/> (a range of a signed fetch) into its file as the range's chunks arrive, in order (from the network
/// or the chunk cache). On creation it takes, from the file's segment table, the bytes of its terms nobody has written
/// (<see cref="SegmentTable.TakeRange"/>): bytes an earlier run or an earlier attempt wrote are not written again, and
/// a unit whose terms are all written has nothing to do. Each chunk is decoded once, whichever terms use it, and its
/// bytes are cut to each term (<c>offset_into_first_range</c> and the window's end) and written at the term's offsets.
/// </summary>
internal sealed class XetUnitWriter
{
    private readonly BigFileJob _job;
    private readonly XetPart _part;
    private readonly XetWriteStage _stage;
    private readonly List<Segment>[] _pieces;
    private readonly long[] _position;
    private readonly long[] _outputStart;
    private readonly (long Start, long End)[][] _unwritten;
    private int _processed;

    public XetUnitWriter(BigFileJob job, XetPart part, XetWriteStage stage)
    {
        _job = job;
        _part = part;
        _stage = stage;
        var terms = part.Terms;
        _pieces = new List<Segment>[terms.Length];
        _position = new long[terms.Length];
        _outputStart = new long[terms.Length];
        _unwritten = new (long, long)[terms.Length][];
        for (var i = 0; i < terms.Length; i++)
        {
            _outputStart[i] = part.Window.Start + terms[i].OutputOffset;
            _pieces[i] = job.Table.TakeRange(_outputStart[i], _outputStart[i] + terms[i].Take);
            _unwritten[i] = [.. _pieces[i].Select(job.Table.Snapshot)];
        }
    }

    /// <summary>Some term still has unwritten bytes.</summary>
    public bool HasWork => Array.Exists(_pieces, p => p.Count > 0);

    /// <summary>The chunks the terms with unwritten bytes need, counted from the range's first chunk.</summary>
    public (int First, int End) NeededChunks
    {
        get
        {
            var first = int.MaxValue;
            var end = 0;
            for (var i = 0; i < _pieces.Length; i++)
            {
                if (_pieces[i].Count > 0)
                {
                    first = Math.Min(first, _part.Terms[i].FirstChunk);
                    end = Math.Max(end, _part.Terms[i].FirstChunk + _part.Terms[i].ChunkCount);
                }
            }
            return (first, end);
        }
    }

    /// <summary>
    /// Handles chunk <paramref name="index"/> (from the range's first chunk; header and stored bytes). Chunks already
    /// handled (a retried fetch starts its range over) are skipped. True when some of its bytes belong to what this
    /// writer took unwritten (a chunk decoded only to find a term's position, on a resume, is not used).
    /// </summary>
    public async ValueTask<bool> OnChunkAsync(int index, ReadOnlyMemory<byte> serialized, CancellationToken cancellationToken)
    {
        if (index < _processed)
        {
            return false;
        }
        var used = false;
        var header = XorbChunkHeader.Read(serialized.Span);
        if (serialized.Length != XorbChunkHeader.Size + header.StoredLength)
        {
            throw new XetFormatException("A xorb chunk's stored length disagrees with its bytes.");
        }
        if (header.UncompressedLength is > 0 and <= XetWriteStage.Capacity && header.Scheme != XetCompression.None && SoleUser(index, header.UncompressedLength) is { } sole)
        {
            // One term takes the whole chunk: decoded straight into the write stage, not decoded and then copied there.
            var term = _part.Terms[sole];
            var position = _position[sole];
            var at = _outputStart[sole] + (position - term.Skip);
            var target = await _stage.ReserveAsync(this, _pieces[sole], at, header.UncompressedLength, cancellationToken).ConfigureAwait(false);
            XetChunkCodec.Decompress(header.Scheme, serialized.Span[XorbChunkHeader.Size..], target.Span);
            _stage.Advance(header.UncompressedLength);
            _position[sole] = position + header.UncompressedLength;
            _processed = index + 1;
            return Overlaps(_unwritten[sole], at, at + header.UncompressedLength);
        }
        byte[]? raw = null;
        var decoded = ReadOnlyMemory<byte>.Empty;
        try
        {
            for (var i = 0; i < _pieces.Length; i++)
            {
                var term = _part.Terms[i];
                if (_pieces[i].Count == 0 || index < term.FirstChunk || index >= term.FirstChunk + term.ChunkCount)
                {
                    continue;
                }
                if (decoded.IsEmpty && header.UncompressedLength > 0)
                {
                    if (header.Scheme == XetCompression.None && header.StoredLength == header.UncompressedLength)
                    {
                        // Stored as is (what incompressible weights are): written straight from the received bytes.
                        decoded = serialized[XorbChunkHeader.Size..];
                    }
                    else
                    {
                        raw = ArrayPool<byte>.Shared.Rent(header.UncompressedLength);
                        XetChunkCodec.Decompress(header.Scheme, serialized.Span[XorbChunkHeader.Size..], raw.AsSpan(0, header.UncompressedLength));
                        decoded = raw.AsMemory(0, header.UncompressedLength);
                    }
                }
                var position = _position[i];
                var length = header.UncompressedLength;
                var from = Math.Max(position, term.Skip);
                var to = Math.Min(position + length, term.Skip + term.Take);
                if (from < to)
                {
                    used |= Overlaps(_unwritten[i], _outputStart[i] + (from - term.Skip), _outputStart[i] + (to - term.Skip));
                    await _stage.AddAsync(this, _pieces[i], decoded.Slice((int)(from - position), (int)(to - from)), _outputStart[i] + (from - term.Skip), cancellationToken).ConfigureAwait(false);
                }
                _position[i] = position + length;
                if (_position[i] > term.UnpackedLength)
                {
                    throw Mismatch(term, _position[i]);
                }
            }
        }
        finally
        {
            if (raw is not null)
            {
                ArrayPool<byte>.Shared.Return(raw);
            }
        }
        _processed = index + 1;
        return used;
    }

    /// <summary>
    /// The term that is the only one with unwritten bytes to use chunk <paramref name="index"/>, when all
    /// <paramref name="length"/> of its bytes fall inside what that term takes; null otherwise.
    /// </summary>
    private int? SoleUser(int index, int length)
    {
        int? sole = null;
        for (var i = 0; i < _pieces.Length; i++)
        {
            var term = _part.Terms[i];
            if (_pieces[i].Count == 0 || index < term.FirstChunk || index >= term.FirstChunk + term.ChunkCount)
            {
                continue;
            }
            if (sole is not null || _position[i] < term.Skip || _position[i] + length > term.Skip + term.Take)
            {
                return null;
            }
            sole = i;
        }
        return sole;
    }

    private static bool Overlaps((long Start, long End)[] ranges, long start, long end) =>
        Array.Exists(ranges, r => r.Start < end && r.End > start);

    /// <summary>Writes <paramref name="bytes"/>, which belong at file offset <paramref name="at"/>, into the pieces that want them.</summary>
    internal async ValueTask WriteAsync(List<Segment> pieces, ReadOnlyMemory<byte> bytes, long at, CancellationToken cancellationToken)
    {
        var stop = at + bytes.Length;
        foreach (var piece in pieces)
        {
            var (from, end) = _job.Table.Snapshot(piece);
            if (end <= at || from >= stop)
            {
                continue;
            }
            if (from < at)
            {
                throw new XetUnavailableException($"bytes {from}-{at - 1} of a term were never delivered");
            }
            var offset = (int)(from - at);
            var remaining = (int)(Math.Min(end, stop) - from);
            while (remaining > 0)
            {
                var position = _job.Table.BeginWrite(piece, remaining, out var count);
                if (position < 0)
                {
                    return; // The file stopped or restarted: these bytes are not wanted any more.
                }
                await _job.WriteAsync(bytes.Slice(offset, count), position, cancellationToken).ConfigureAwait(false);
                _job.EndWrite(piece, count);
                offset += count;
                remaining -= count;
            }
        }
    }

    /// <summary>
    /// Checks that every term with unwritten bytes got all its chunks and that they add up to what the reconstruction
    /// promised. The stage must have been flushed (<see cref="XetWriteStage.FlushAsync"/>).
    /// </summary>
    public void Finish()
    {
        for (var i = 0; i < _pieces.Length; i++)
        {
            var term = _part.Terms[i];
            if (_pieces[i].Count > 0 && _position[i] != term.UnpackedLength)
            {
                throw Mismatch(term, _position[i]);
            }
        }
    }

    private XetUnavailableException Mismatch(XetPlannedTerm term, long decoded) =>
        new($"chunks {_part.Range.ChunkStart + term.FirstChunk}-{_part.Range.ChunkStart + term.FirstChunk + term.ChunkCount - 1} of xorb {_part.Xorb} decode to {decoded}+ bytes where the reconstruction promised {term.UnpackedLength}");

    /// <summary>Gives the pieces back to the table: what was not written is anyone's again (the plain path's, after a fallback).</summary>
    public void Release()
    {
        foreach (var pieces in _pieces)
        {
            foreach (var piece in pieces)
            {
                _job.Table.Release(piece);
            }
        }
    }
}

/// <summary>
/// Gathers the decoded bytes of one unit into writes of up to <see cref="Capacity"/> bytes: chunks are ~64 KiB, and
/// 32 connections writing each chunk on its own through the file's one writer (see <see cref="BigFileJob.WriteAsync"/>)
/// made four times the system calls and lock hand-offs of a plain download. Consecutive bytes of the same term are
/// staged together; anything else (another term, a gap) writes what is staged first. What is staged and never flushed
/// (a failed fetch) was never counted as written, so its bytes are fetched again. One per unit: its ranges arrive
/// one after the other.
/// </summary>
internal sealed class XetWriteStage : IDisposable
{
    public const int Capacity = 256 * 1024;

    private byte[]? _buffer;
    private XetUnitWriter? _writer;
    private List<Segment>? _pieces;
    private long _at;
    private int _length;

    public async ValueTask AddAsync(XetUnitWriter writer, List<Segment> pieces, ReadOnlyMemory<byte> bytes, long at, CancellationToken cancellationToken)
    {
        if (_length > 0 && (!ReferenceEquals(pieces, _pieces) || at != _at + _length || _length + bytes.Length > Capacity))
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        if (bytes.Length >= Capacity)
        {
            await writer.WriteAsync(pieces, bytes, at, cancellationToken).ConfigureAwait(false);
            return;
        }
        _buffer ??= ArrayPool<byte>.Shared.Rent(Capacity);
        if (_length == 0)
        {
            _writer = writer;
            _pieces = pieces;
            _at = at;
        }
        bytes.Span.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    /// <summary>
    /// Room for <paramref name="length"/> bytes (at most <see cref="Capacity"/>) that belong at file offset
    /// <paramref name="at"/>, after what is staged (written first when the new bytes do not follow it); the caller fills
    /// it, then counts it in with <see cref="Advance"/> (what is never counted in is never written).
    /// </summary>
    public async ValueTask<Memory<byte>> ReserveAsync(XetUnitWriter writer, List<Segment> pieces, long at, int length, CancellationToken cancellationToken)
    {
        if (_length > 0 && (!ReferenceEquals(pieces, _pieces) || at != _at + _length || _length + length > Capacity))
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        _buffer ??= ArrayPool<byte>.Shared.Rent(Capacity);
        if (_length == 0)
        {
            _writer = writer;
            _pieces = pieces;
            _at = at;
        }
        return _buffer.AsMemory(_length, length);
    }

    /// <summary>Counts in the <paramref name="length"/> bytes written into the room <see cref="ReserveAsync"/> gave.</summary>
    public void Advance(int length) => _length += length;

    /// <summary>Writes what is staged.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_length == 0)
        {
            return;
        }
        var length = _length;
        _length = 0;
        await _writer!.WriteAsync(_pieces!, _buffer.AsMemory(0, length), _at, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _length = 0;
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }
}

/// <summary>
/// The target of a signed xorb fetch's <see cref="RangeFetch"/>: its size is unknown to the client, and it cannot be
/// resumed from the middle (only the signed ranges are authorised), so each attempt asks for all of it again and the
/// chunks already handled are skipped. One range comes as the raw bytes; several come as one
/// <c>multipart/byteranges</c> body, asked for with exactly the signed <c>Range</c> header and read part by part as it
/// arrives. Each range's bytes are cut into chunks (at most one chunk is held per range, about 128 KiB), each handed to
/// its <see cref="XetUnitWriter"/> (none for a range the cache served) and appended to its new chunk cache entry.
/// </summary>
internal sealed class XorbRangeTarget : IFetchTarget, IDisposable
{
    private readonly BigFileJob _job;
    private readonly XetUnit _unit;
    private readonly ChunkSplitter[] _splitters;
    private MultipartByteRangeReader? _multipart;
    private long _received;

    public XorbRangeTarget(BigFileJob job, XetUnit unit, XetUnitWriter?[] writers, XetChunkCache.Writer?[] cacheEntries)
    {
        _job = job;
        _unit = unit;
        _splitters = new ChunkSplitter[unit.Parts.Length];
        for (var i = 0; i < _splitters.Length; i++)
        {
            _splitters[i] = new ChunkSplitter(unit.Parts[i], writers[i], cacheEntries[i]);
        }
    }

    private bool IsMultiRange => _splitters.Length > 1;

    public long TotalSize => RangeFetch.UnknownSize;

    public int GatherBytes => RangeFetch.BufferSize;

    public string? ExactRanges => IsMultiRange ? _unit.Fetch.RangeHeader : null;

    public (long From, long End)? Wanted()
    {
        if (_job.FailedToken.IsCancellationRequested)
        {
            return null;
        }
        if (!IsMultiRange)
        {
            var range = _unit.Parts[0].Range;
            return (range.ByteStart + _received, range.ByteEnd + 1);
        }
        // A multipart body's length is not known ahead: it is done when its closing boundary has come.
        return _multipart is { IsComplete: true } ? (_received, _received) : (_received, _received + Math.Max(1, _unit.Fetch.ByteCount - _received));
    }

    public void BeginAttempt()
    {
        _received = 0;
        _multipart = null;
        foreach (var splitter in _splitters)
        {
            splitter.Reset();
        }
    }

    public void BeginMultipart(string boundary) =>
        _multipart = new MultipartByteRangeReader(boundary, [.. _unit.Fetch.Ranges.Select(r => (r.ByteStart, r.ByteEnd))]);

    public async ValueTask<int> WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        if (!IsMultiRange)
        {
            await _splitters[0].WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var reader = _multipart ?? throw new InvalidOperationException("A multi-range answer arrived without its boundary.");
            await reader.WriteAsync(bytes, (part, data, token) => _splitters[part].WriteAsync(data, token), cancellationToken).ConfigureAwait(false);
        }
        _received += bytes.Length;
        return bytes.Length;
    }

    /// <summary>A 200 to a ranged xorb request is never taken.</summary>
    public bool RestartFromZero() => false;

    /// <summary>The fetch ended: each range must have held exactly its chunks, the last one whole.</summary>
    public void Finish()
    {
        foreach (var splitter in _splitters)
        {
            splitter.Finish();
        }
    }

    public void Dispose()
    {
        foreach (var splitter in _splitters)
        {
            splitter.Dispose();
        }
    }

    /// <summary>Cuts one range's bytes into its chunks as they arrive.</summary>
    private sealed class ChunkSplitter(XetPart part, XetUnitWriter? writer, XetChunkCache.Writer? cacheEntry) : IDisposable
    {
        // Two buffers for chunks cut by the edge of what arrived, used in turn: a chunk completed at the start of one
        // write stays where it is (the cache entry borrows it) while the next one starts at the write's end; the entry
        // writes what it borrowed before the write returns, so the other buffer is free again by the next turn.
        private readonly byte[][] _buffers = [ArrayPool<byte>.Shared.Rent(XetReconstructionReader.MaxSerializedChunk), ArrayPool<byte>.Shared.Rent(XetReconstructionReader.MaxSerializedChunk)];
        private byte[] _chunk = [];
        private int _turn;
        private int _pending;
        private int _stored;
        private int _chunks;

        public void Reset()
        {
            _pending = 0;
            _chunks = 0;
            cacheEntry?.Reset();
        }

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        {
            var data = bytes;
            while (!data.IsEmpty)
            {
                if (_pending == 0 && data.Length >= XorbChunkHeader.Size
                    && XorbChunkHeader.Read(data.Span).StoredLength is var stored
                    && XorbChunkHeader.Size + stored <= Math.Min(data.Length, XetReconstructionReader.MaxSerializedChunk))
                {
                    // A whole chunk in what arrived: handed on where it lies, without a copy.
                    await OnChunkAsync(data[..(XorbChunkHeader.Size + stored)], cancellationToken).ConfigureAwait(false);
                    data = data[(XorbChunkHeader.Size + stored)..];
                    continue;
                }
                if (_pending == 0)
                {
                    _chunk = _buffers[_turn ^= 1];
                }
                if (_pending < XorbChunkHeader.Size)
                {
                    var head = Math.Min(XorbChunkHeader.Size - _pending, data.Length);
                    data.Span[..head].CopyTo(_chunk.AsSpan(_pending));
                    _pending += head;
                    data = data[head..];
                    if (_pending < XorbChunkHeader.Size)
                    {
                        break;
                    }
                    _stored = XorbChunkHeader.Read(_chunk).StoredLength;
                    if (XorbChunkHeader.Size + _stored > XetReconstructionReader.MaxSerializedChunk)
                    {
                        throw new XetFormatException($"A xorb chunk claims {_stored} stored bytes, more than any chunk can take.");
                    }
                }
                var take = Math.Min(XorbChunkHeader.Size + _stored - _pending, data.Length);
                data.Span[..take].CopyTo(_chunk.AsSpan(_pending));
                _pending += take;
                data = data[take..];
                if (_pending == XorbChunkHeader.Size + _stored)
                {
                    await OnChunkAsync(_chunk.AsMemory(0, _pending), cancellationToken).ConfigureAwait(false);
                    _pending = 0;
                }
            }
            // The chunks the cache entry borrowed from what arrived are written before the caller reuses its buffer.
            cacheEntry?.WriteBorrowed();
        }

        private async ValueTask OnChunkAsync(ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken)
        {
            if (_chunks >= part.Range.ChunkCount)
            {
                throw new XetFormatException($"A xorb range holds more than the {part.Range.ChunkCount} chunks it should.");
            }
            cacheEntry?.AppendBorrowed(chunk);
            if (writer is not null)
            {
                await writer.OnChunkAsync(_chunks, chunk, cancellationToken).ConfigureAwait(false);
            }
            _chunks++;
        }

        public void Finish()
        {
            if (_pending != 0 || _chunks != part.Range.ChunkCount)
            {
                throw new XetUnavailableException($"bytes {part.Range.Spec} of xorb {part.Xorb} held {_chunks} whole chunks where {part.Range.ChunkCount} were expected");
            }
        }

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(_buffers[0]);
            ArrayPool<byte>.Shared.Return(_buffers[1]);
        }
    }
}
