using Hfdl.Core.Hub;

namespace Hfdl.Core.Tests.Hub;

public sealed class RepoIdTests
{
    [Theory]
    [InlineData("gpt2", null, "gpt2")]
    [InlineData("bert-base-uncased", null, "bert-base-uncased")]
    [InlineData("org/name", "org", "name")]
    [InlineData("a.b_c-d/x", "a.b_c-d", "x")]
    [InlineData("openai-community/gpt2", "openai-community", "gpt2")]
    [InlineData("google-bert/bert-base-uncased", "google-bert", "bert-base-uncased")]
    [InlineData("meta-llama/Llama-3.1-8B-Instruct", "meta-llama", "Llama-3.1-8B-Instruct")]
    [InlineData("A1/B2", "A1", "B2")]
    public void A_valid_id_parses_into_namespace_and_name(string text, string? ns, string name)
    {
        var id = RepoId.Parse(text);

        Assert.Equal(text, id.Value);
        Assert.Equal(text, id.ToString());
        Assert.Equal(ns, id.Namespace);
        Assert.Equal(name, id.Name);
    }

    [Fact]
    public void A_refused_id_is_quoted_escaped_and_only_the_parser_that_reads_urls_suggests_one()
    {
        // RepoId.Parse suggested a URL, which it refuses; the id was quoted raw, newline and bidi override included (QA: helper-40).
        var url = Assert.Throws<InvalidRepoIdException>(() => RepoId.Parse("https://huggingface.co/openai-community/gpt2"));
        var raw = Assert.Throws<InvalidRepoIdException>(() => RepoId.Parse("org/\u202Ename\n"));
        var reference = Assert.Throws<InvalidRepoIdException>(() => RepoReference.Parse("org/na me"));

        Assert.DoesNotContain("or a URL such as", url.Message, StringComparison.Ordinal);
        Assert.Contains("RepoReference.Parse", url.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\u202E', raw.Message);
        Assert.DoesNotContain('\n', raw.Message);
        Assert.StartsWith("'org/\\u202Ename\\x0a'", raw.Message, StringComparison.Ordinal);
        Assert.Contains("or a URL such as", reference.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_legacy_single_segment_id_is_valid()
    {
        Assert.True(RepoId.TryParse("gpt2", out var id));
        Assert.Null(id.Namespace);
        Assert.Equal("gpt2", id.Name);
    }

    [Fact]
    public void An_id_of_exactly_96_characters_is_valid()
    {
        var text = "o/" + new string('n', 94);
        Assert.Equal(96, text.Length);
        Assert.True(RepoId.TryParse(text, out _));
    }

    public static TheoryData<string, string> InvalidIds => new()
    {
        { "", "empty" },
        { "o/" + new string('n', 95), "96" },
        { "a/b/c", "more than one '/'" },
        { "org/na--me", "'--'" },
        { "org/na..me", "'..'" },
        { "-org/name", "starts or ends" },
        { "org/name-", "starts or ends" },
        { ".org/name", "starts or ends" },
        { "org/name.", "starts or ends" },
        { "org-/name", "starts or ends" },
        { "org/.name", "starts or ends" },
        { "org/name.git", "'.git'" },
        { "gpt2.GIT", "'.git'" },
        { "org/my model", "' '" },
        { " gpt2", "' '" },
        { "org/modèle", "'è'" },
        { "org/name\u0000", "\\x00" },
        { "org/na\nme", "\\x0a" },
        { "org/na\tme", "\\x09" },
        { "/name", "empty" },
        { "org/", "empty" },
        { "/", "empty" },
        { "org\\name", "'\\'" },
        { "org/name?x", "'?'" },
        { "..", "starts or ends" },
    };

    [Theory]
    [MemberData(nameof(InvalidIds))]
    public void An_invalid_id_is_rejected_with_a_message_that_names_the_problem(string text, string problemFragment)
    {
        Assert.False(RepoId.TryParse(text, out _, out var problem));
        Assert.Contains(problemFragment, problem, StringComparison.Ordinal);

        var ex = Assert.Throws<InvalidRepoIdException>(() => RepoId.Parse(text));
        Assert.Equal(problem, ex.Problem);
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
        Assert.Contains("namespace/name", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Null_is_rejected_as_empty_without_a_NullReferenceException()
    {
        Assert.False(RepoId.TryParse(null, out _, out var problem));
        Assert.Equal("it is empty", problem);
        var ex = Assert.Throws<InvalidRepoIdException>(() => RepoId.Parse(null!));
        Assert.Null(ex.Input);
    }

    [Fact]
    public void A_control_character_is_shown_escaped_in_the_message_not_raw()
    {
        var ex = Assert.Throws<InvalidRepoIdException>(() => RepoId.Parse("org/a\u001bb"));
        Assert.Contains("\\x1b", ex.Problem, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', ex.Problem);
    }

    public static TheoryData<string> HostileInputs => new()
    {
        "😀",
        "org/😀",
        "\uD800",
        "org/\uDFFF",
        new string('/', 5000),
        new string('a', 100_000),
        "\u202Eorg/name",
        "org/name\r\n",
        "ｏｒｇ/ｎａｍｅ",
        "org/na\u0301me",
    };

    [Theory]
    [MemberData(nameof(HostileInputs))]
    public void Parse_never_throws_anything_but_InvalidRepoIdException(string text)
    {
        var ex = Record.Exception(() => RepoId.Parse(text));
        Assert.IsType<InvalidRepoIdException>(ex);
        Assert.False(RepoId.TryParse(text, out _));
    }

    [Theory]
    [InlineData("😀")]
    [InlineData("org/😀x")]
    [InlineData("org/\uDFFF")]
    public void A_surrogate_in_the_input_does_not_leave_half_a_character_in_the_problem(string text)
    {
        Assert.False(RepoId.TryParse(text, out _, out var problem));
        for (var i = 0; i < problem.Length; i++)
        {
            if (char.IsHighSurrogate(problem[i]))
            {
                Assert.True(i + 1 < problem.Length && char.IsLowSurrogate(problem[i + 1]), $"lone high surrogate in: {problem}");
                i++;
            }
            else
            {
                Assert.False(char.IsLowSurrogate(problem[i]), $"lone low surrogate in: {problem}");
            }
        }
    }

    [Fact]
    public void Ids_compare_by_value_and_case_sensitively()
    {
        Assert.Equal(RepoId.Parse("org/name"), RepoId.Parse("org/name"));
        Assert.NotEqual(RepoId.Parse("org/name"), RepoId.Parse("Org/name"));
    }
}
