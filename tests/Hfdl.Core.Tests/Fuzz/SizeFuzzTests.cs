using System.Numerics;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using Hfdl.Core.Hub;
using Hfdl.Core.Storage;

namespace Hfdl.Core.Tests.Fuzz;

/// <summary>
/// Sizes and ranges a server or a hand-edited journal gives: every one hfdl accepts is at most 1 PiB, every sum it
/// accepts at most 1 EiB and exact, and whatever else comes is refused with an <see cref="HfdlException"/>, never an
/// overflow.
/// </summary>
public sealed class SizeFuzzTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"hfdl-size-fuzz-{Guid.NewGuid():N}");

    public SizeFuzzTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Numbers near every edge: 0, small, around 2^50 and 2^60, near <see cref="long.MaxValue"/>, negative.</summary>
    private static readonly Gen<long> Size = Gen.OneOf(
        Gen.Elements(0L, 1L, -1L, long.MaxValue, long.MaxValue - 1, long.MinValue, FileSizes.MaxFileSize, FileSizes.MaxFileSize + 1,
            FileSizes.MaxTotalSize, FileSizes.MaxTotalSize + 1, 1L << 62, (1L << 62) + 1, 440_473_133L),
        Gen.Choose(0, int.MaxValue).Select(i => (long)i),
        Gen.Choose(0, 63).Select(bit => 1L << bit),
        Gen.Choose(0, 63).Select(bit => (1L << bit) - 1));

    [Fact]
    public void A_size_is_accepted_only_between_0_and_1_PiB()
    {
        Fuzz.Check(Size, size =>
        {
            try
            {
                Assert.Equal(size, FileSizes.Check("a.bin", size));
                Assert.InRange(size, 0, FileSizes.MaxFileSize);
            }
            catch (HubProtocolException)
            {
                Assert.True(size is < 0 or > FileSizes.MaxFileSize, $"{size} was refused");
            }
        });
    }

    [Fact]
    public void A_total_is_exact_when_accepted_and_refused_past_1_EiB_without_overflowing()
    {
        Fuzz.Check(Size.ListOf(), sizes =>
        {
            var exact = sizes.Aggregate(BigInteger.Zero, (sum, size) => sum + size);
            try
            {
                var total = FileSizes.Total(sizes, "model 'a/b'");
                Assert.Equal(exact, total);
                Assert.InRange(total, 0, FileSizes.MaxTotalSize);
            }
            catch (HubProtocolException ex)
            {
                Assert.True(sizes.Any(s => s < 0) || exact > FileSizes.MaxTotalSize, $"{exact} was refused");
                Assert.Contains("1 EiB", ex.Message, StringComparison.Ordinal);
            }
        });
    }

    [Fact]
    public void A_journal_with_any_size_and_ranges_is_trusted_only_when_its_ranges_fit_the_file()
    {
        var id = RepoId.Parse("acme/x");
        var folder = Path.Combine(_root, "state");
        var gen =
            from size in Size
            from ranges in Gen.Zip(Size, Size).Select(r => new[] { r.Item1, r.Item2 }).ListOf()
            select (size, ranges);
        Fuzz.Check(gen, c =>
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
            Directory.CreateDirectory(folder);
            var json = JsonSerializer.Serialize(new
            {
                schema = DownloadState.SchemaName,
                version = DownloadState.CurrentVersion,
                repoType = "model",
                repoId = "acme/x",
                revision = "main",
                commit = "607a30d783dfa663caf39e06633721c8d4cfcd7e",
                updatedAt = "2025-01-01T00:00:00+00:00",
                files = new Dictionary<string, object>
                {
                    ["big.bin"] = new
                    {
                        size = c.size,
                        etag = "097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a",
                        status = "partial",
                        tempFile = ".big.bin.0123abcd.hfdl-part",
                        ranges = c.ranges,
                    },
                },
            });
            File.WriteAllText(Path.Combine(folder, DownloadState.FileName), json);

            var store = DownloadStateStore.Open(folder, RepoType.Model, id, TimeProvider.System);

            if (store.Get("big.bin") is not { } entry)
            {
                Assert.NotNull(store.LoadWarning);
                return;
            }
            Assert.InRange(entry.Size, 0, FileSizes.MaxFileSize);
            var written = entry.Ranges!.Aggregate(BigInteger.Zero, (sum, r) => sum + (r[1] - r[0]));
            Assert.True(written <= entry.Size, $"{written} bytes recorded of {entry.Size}");
            Assert.All(entry.Ranges!, r => Assert.InRange(r[0], 0, r[1]));
        });
    }
}
