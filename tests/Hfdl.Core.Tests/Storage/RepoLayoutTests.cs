using Hfdl.Core.Hub;
using Hfdl.Core.Storage;

namespace Hfdl.Core.Tests.Storage;

public sealed class RepoLayoutTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(RepoType.Model, "org/name", new[] { "org", "name" })]
    [InlineData(RepoType.Model, "gpt2", new[] { "gpt2" })]
    [InlineData(RepoType.Dataset, "org/name", new[] { "datasets", "org", "name" })]
    [InlineData(RepoType.Dataset, "xsum", new[] { "datasets", "xsum" })]
    [InlineData(RepoType.Space, "org/name", new[] { "spaces", "org", "name" })]
    public void Each_repo_type_has_its_own_folder(RepoType type, string id, string[] parts)
    {
        var folder = RepoLayout.RepoFolder(_temp.Path, type, RepoId.Parse(id));
        Assert.Equal(Path.Combine([_temp.Path, .. parts]), folder);
    }

    [Fact]
    public void A_relative_base_directory_becomes_absolute()
    {
        var folder = RepoLayout.RepoFolder("models", RepoType.Model, RepoId.Parse("org/name"));
        Assert.True(Path.IsPathFullyQualified(folder));
        Assert.EndsWith(Path.Combine("models", "org", "name"), folder, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_path_lands_under_the_root()
    {
        Assert.Equal(Path.Combine(_temp.Path, "sub", "dir", "file.bin"), RepoLayout.FilePath(_temp.Path, "sub/dir/file.bin"));
        Assert.Equal(Path.Combine(_temp.Path, ".gitattributes"), RepoLayout.FilePath(_temp.Path + Path.DirectorySeparatorChar, ".gitattributes"));
    }

    [Fact]
    public void A_path_that_resolves_outside_the_root_is_refused_even_if_not_validated_first()
    {
        Assert.Throws<UnsafePathException>(() => RepoLayout.FilePath(_temp.Combine("root"), "../escape.txt"));
        Assert.Throws<UnsafePathException>(() => RepoLayout.FilePath(_temp.Combine("root"), "a/../../escape.txt"));
        Assert.Throws<UnsafePathException>(() => RepoLayout.FilePath(_temp.Combine("root"), "../root-sibling/x"));
    }

    [Fact]
    public void A_pre_existing_symlinked_folder_pointing_outside_is_never_written_through()
    {
        var root = _temp.Combine("root");
        var outside = _temp.Combine("outside");
        Directory.CreateDirectory(root);
        Directory.CreateDirectory(outside);
        Directory.CreateSymbolicLink(Path.Combine(root, "sub"), outside);

        var ex = Assert.Throws<LinkInTargetException>(() => RepoLayout.FilePath(root, "sub/model.bin"));

        Assert.Contains("symbolic link", ex.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
    }

    [Fact]
    public void A_symlinked_folder_deeper_down_is_refused_too()
    {
        var root = _temp.Combine("root");
        Directory.CreateDirectory(Path.Combine(root, "a", "b"));
        Directory.CreateSymbolicLink(Path.Combine(root, "a", "b", "c"), _temp.Combine("outside"));
        Directory.CreateDirectory(_temp.Combine("outside"));

        Assert.Throws<LinkInTargetException>(() => RepoLayout.FilePath(root, "a/b/c/d/e.txt"));
    }

    [Fact]
    public void A_pre_existing_symlink_in_place_of_the_file_is_refused()
    {
        var root = _temp.Combine("root");
        Directory.CreateDirectory(root);
        var victim = _temp.Write("outside/victim.txt", "do not overwrite");
        File.CreateSymbolicLink(Path.Combine(root, "config.json"), victim);

        Assert.Throws<LinkInTargetException>(() => RepoLayout.FilePath(root, "config.json"));
        Assert.Equal("do not overwrite", File.ReadAllText(victim));
    }

    [Fact]
    public void A_dangling_symlink_in_the_way_is_refused()
    {
        var root = _temp.Combine("root");
        Directory.CreateDirectory(root);
        Directory.CreateSymbolicLink(Path.Combine(root, "sub"), _temp.Combine("not-yet-there"));

        Assert.Throws<LinkInTargetException>(() => RepoLayout.FilePath(root, "sub/file.bin"));
    }

    [Fact]
    public void Real_folders_and_files_already_there_are_fine()
    {
        var root = _temp.Combine("root");
        _temp.Write("root/sub/existing.bin", "x");

        Assert.Equal(Path.Combine(root, "sub", "existing.bin"), RepoLayout.FilePath(root, "sub/existing.bin"));
        Assert.Equal(Path.Combine(root, "sub", "new.bin"), RepoLayout.FilePath(root, "sub/new.bin"));
    }

    private const string Commit = "0123456789abcdef0123456789abcdef01234567";

    [Theory]
    [InlineData("../../../../evilrev")]
    [InlineData("refs/../../x")]
    public void A_revision_that_cannot_name_a_ref_file_is_refused_as_the_revision_not_as_a_file_the_server_listed(string revision)
    {
        var cache = StorageLayout.Create(LayoutKind.HfCache, _temp.Path, RepoType.Model, RepoId.Parse("acme/refs"));

        var error = Assert.Throws<UnsafeRevisionNameException>(() => cache.RecordRevision(revision, Commit));

        Assert.StartsWith($"The revision '{revision}' (commit {Commit}) cannot be recorded in the Hugging Face cache", error.Message, StringComparison.Ordinal);
        Assert.Contains($"ask for the commit id {Commit} instead", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("server listed", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_temp.Path, "*evilrev*", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetFiles(_temp.Path, "x", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData("main/x", "main")]
    [InlineData("main", "main/x")]
    [InlineData("v1", "v1/fix/2")]
    public void A_revision_whose_name_nests_with_a_recorded_one_is_refused_with_both_names_and_the_recorded_ref_kept(string first, string second)
    {
        var cache = StorageLayout.Create(LayoutKind.HfCache, _temp.Path, RepoType.Model, RepoId.Parse("acme/nested"));
        var other = new string('e', 40);
        cache.RecordRevision(first, other);

        var error = Assert.Throws<UnsafeRevisionNameException>(() => cache.RecordRevision(second, Commit));

        Assert.StartsWith($"The revision '{second}' (commit {Commit}) cannot be recorded in the Hugging Face cache", error.Message, StringComparison.Ordinal);
        Assert.Contains($"the cache already records revision '{first}'", error.Message, StringComparison.Ordinal);
        Assert.Contains($"unless revision '{first}' is removed from it first. Nothing was downloaded", error.Message, StringComparison.Ordinal);
        Assert.Contains($"ask for the commit id {Commit} instead", error.Message, StringComparison.Ordinal);
        Assert.Equal(other, cache.LocalCommit(first));
    }

    [Fact]
    public void An_empty_folder_where_a_ref_goes_is_replaced_by_the_ref()
    {
        var cache = StorageLayout.Create(LayoutKind.HfCache, _temp.Path, RepoType.Model, RepoId.Parse("acme/empty-ref-folder"));
        Directory.CreateDirectory(Path.Combine(_temp.Path, "models--acme--empty-ref-folder", "refs", "main", "x"));

        cache.RecordRevision("main", Commit);

        Assert.Equal(Commit, cache.LocalCommit("main"));
    }

    [Fact]
    public void A_link_at_a_ref_names_the_revision_it_records_not_a_repo_file()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // Symbolic links need privileges there.
        }
        var cache = StorageLayout.Create(LayoutKind.HfCache, _temp.Path, RepoType.Model, RepoId.Parse("acme/refs"));
        var refs = _temp.Combine("models--acme--refs", "refs");
        Directory.CreateDirectory(refs);
        File.CreateSymbolicLink(Path.Combine(refs, "main"), _temp.Combine("elsewhere"));

        var error = Assert.Throws<LinkInTargetException>(() => cache.RecordRevision("main", Commit));

        Assert.Contains("where the cache's ref of revision 'main' goes", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("repo file", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_temp.Combine("elsewhere")));
    }
}
