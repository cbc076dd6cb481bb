using Hfdl.Core.Hub;
using Hfdl.Core.Planning;

namespace Hfdl.Core.Tests.Planning;

public sealed class RepoFilePathTests
{
    public static TheoryData<string, string> Unsafe => new()
    {
        { "../x", "'..' segment" },
        { "..", "'..' segment" },
        { "a/../../x", "'..' segment" },
        { "a/..", "'..' segment" },
        { "/abs", "absolute" },
        { "/etc/passwd", "absolute" },
        { "C:\\x", "backslash" },
        { "C:x", "drive letter" },
        { "c:/windows/x", "drive letter" },
        { "\\\\server\\share", "backslash" },
        { "a\\b", "backslash" },
        { "..\\x", "backslash" },
        { "a\0b", "NUL" },
        { "a\nb", "control" },
        { "a\rb", "control" },
        { "a\u001bb", "control" },
        { "a\u007fb", "control" },
        { "a//b", "empty folder name" },
        { "./a", "'.' segment" },
        { "a/./b", "'.' segment" },
        { "a/", "empty folder name" },
        { "", "empty" },
        { new string('a', 256), "255" },
        { "ok/" + new string('b', 256) + "/x", "255" },
        { string.Join('/', Enumerable.Repeat("abcdefgh", 600)), "too long" },
    };

    [Theory]
    [MemberData(nameof(Unsafe))]
    public void A_path_that_could_leave_the_target_folder_is_rejected(string path, string problemFragment)
    {
        Assert.False(RepoFilePath.TryValidate(path, out var problem));
        Assert.Contains(problemFragment, problem, StringComparison.Ordinal);

        var ex = Assert.Throws<UnsafePathException>(() => RepoFilePath.Validate(path));
        Assert.Equal(path, ex.RejectedPath);
        Assert.Contains(problem!, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Null_is_rejected()
    {
        Assert.False(RepoFilePath.TryValidate(null, out var problem));
        Assert.Equal("the name is empty", problem);
    }

    [Fact]
    public void The_rejection_message_shows_control_characters_escaped()
    {
        var ex = Assert.Throws<UnsafePathException>(() => RepoFilePath.Validate("evil\n\u001b[31mname"));
        Assert.Contains("evil\\x0a\\x1b[31mname", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.DoesNotContain('\u001b', ex.Message);
    }

    [Theory]
    [InlineData("config.json")]
    [InlineData(".gitattributes")]
    [InlineData("sub/.hidden")]
    [InlineData("my file.txt")]
    [InlineData("a#b.txt")]
    [InlineData("c++.txt")]
    [InlineData("100%.txt")]
    [InlineData("what?.md")]
    [InlineData("modèle/poids.bin")]
    [InlineData("日本/語.txt")]
    [InlineData("emoji-😀.txt")]
    [InlineData("a..b")]
    [InlineData("...")]
    [InlineData("..a")]
    [InlineData("a..")]
    [InlineData("onnx/decoder_model_merged_quantized.onnx")]
    public void Ordinary_names_are_accepted(string path)
    {
        Assert.True(RepoFilePath.TryValidate(path, out var problem), problem);
        RepoFilePath.Validate(path);
    }

    [Fact]
    public void A_segment_of_exactly_255_characters_is_accepted()
    {
        Assert.True(RepoFilePath.TryValidate("dir/" + new string('a', 255), out _));
    }

    [Theory]
    [InlineData("..download_state.0123456789abcdef0123456789abcdef.tmp", true)]
    [InlineData("sub/..hfdl.lock.info.0123456789abcdef0123456789abcdef.tmp", true)]
    [InlineData(".download_state", true)]
    [InlineData("..download_statement.txt", false)]
    [InlineData("..notes.0123456789abcdef0123456789abcdef.tmp", false)]
    public void The_temporary_files_of_the_journal_and_lock_record_are_names_hfdl_keeps(string path, bool reserved)
    {
        // The run that holds the folder's lock deletes them when a killed run left them: never a repo's file.
        Assert.Equal(reserved, RepoFilePath.ReservedProblem(path, StringComparison.Ordinal) is not null);
        Assert.Equal(reserved, RepoPlanner.IsOwnFile(path));
    }
}
