using System.Net;
using System.Net.Http.Headers;
using FsCheck;
using FsCheck.Fluent;
using Hfdl.Core.Hub;

namespace Hfdl.Core.Tests.Fuzz;

/// <summary>Repo ids, URLs, Link, RateLimit, Retry-After and Content-Range headers: no input crashes a parser or yields a value that breaks its contract.</summary>
public sealed class ParserFuzzTests
{
    private static readonly Gen<string> UrlLike =
        from prefix in Gen.Elements("", "hf://", "https://huggingface.co/", "http://127.0.0.1:1/", "https://h/datasets/", "hf://spaces/")
        from body in Fuzz.HostileString
        select prefix + body;

    [Fact]
    public void A_repo_id_is_accepted_only_when_it_follows_the_hub_rules()
    {
        Fuzz.Check(Gen.OneOf(Fuzz.HostileString, UrlLike), text =>
        {
            if (RepoId.TryParse(text, out var id, out var problem))
            {
                Assert.Equal(text, id.Value);
                Assert.InRange(id.Value.Length, 1, 96);
                Assert.All(id.Value, c => Assert.True(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '/'));
                Assert.DoesNotContain("..", id.Value, StringComparison.Ordinal);
                Assert.True(id.Value.Count(c => c == '/') <= 1);
            }
            else
            {
                Assert.False(string.IsNullOrWhiteSpace(problem));
                var error = Assert.Throws<InvalidRepoIdException>(() => RepoId.Parse(text));
                Assert.Contains(problem, error.Message, StringComparison.Ordinal);
            }
        });
    }

    [Fact]
    public void A_repo_reference_never_crashes_and_always_names_a_valid_id()
    {
        Fuzz.Check(Gen.OneOf(Fuzz.HostileString, UrlLike), text =>
        {
            if (RepoReference.TryParse(text, out var reference, out var problem))
            {
                Assert.True(RepoId.TryParse(reference.Id.Value, out _));
                Assert.True(reference.Revision is null || reference.Revision.Length > 0);
            }
            else
            {
                Assert.False(string.IsNullOrWhiteSpace(problem));
                Assert.Throws<InvalidRepoIdException>(() => RepoReference.Parse(text));
            }
        });
    }

    private static readonly Gen<string> LinkHeader =
        from links in Gen.OneOf(
                Fuzz.HostileString,
                from target in Gen.OneOf(Fuzz.HostileString, UrlLike)
                from rel in Gen.Elements("rel=next", "rel=\"next\"", "rel=\"prev next\"", "rel=last", "REL=NEXT", "", "rel=")
                from extra in Fuzz.HostileString
                select $"<{target}>; {rel}{extra}")
            .ListOf(4)
        select string.Join(", ", links);

    [Fact]
    public void A_link_header_yields_only_an_absolute_http_url_or_nothing()
    {
        Fuzz.Check(LinkHeader, header =>
        {
            var next = HubUrls.ParseNextLink(header);
            if (next is not null)
            {
                Assert.True(next.IsAbsoluteUri);
                Assert.Contains(next.Scheme, new[] { "http", "https" });
            }
        });
    }

    private static readonly Gen<string> RateLimitValue =
        from bucket in Gen.Elements("\"api\"", "\"resolvers\"", "api", "\"", "")
        from parts in Gen.OneOf(
                Gen.Elements("r=0", "r=1", "r=-1", "t=55", "t=0", "t=86400", "t=86401", "t=-5", "r=9223372036854775808", "t=1e3", "r=", "t="),
                Fuzz.HostileString)
            .ListOf(4)
        select string.Join(";", new[] { bucket }.Concat(parts));

    [Fact]
    public void A_ratelimit_header_never_crashes_and_never_asks_for_an_absurd_wait()
    {
        Fuzz.Check(Gen.Zip(Gen.OneOf(RateLimitValue, Fuzz.HostileString), Gen.OneOf(Fuzz.HostileString, Gen.Choose(-5, int.MaxValue).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)))), pair =>
        {
            var (rateLimit, retryAfter) = pair;
            if (RateLimitHeaders.ParseRateLimit(rateLimit) is { } parsed)
            {
                Assert.True(parsed.Remaining >= 0);
                Assert.InRange(parsed.ResetSeconds, 0, 86_400);
            }
            using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
            response.Headers.TryAddWithoutValidation("RateLimit", rateLimit);
            response.Headers.TryAddWithoutValidation("Retry-After", retryAfter);
            if (RateLimitHeaders.RetryDelay(response.Headers) is { } delay)
            {
                Assert.InRange(delay, TimeSpan.Zero, RateLimitHeaders.MaxRetryDelay);
            }
        });
    }

    private static readonly Gen<string> ContentRange =
        Gen.OneOf(
            Fuzz.HostileString,
            from unit in Gen.Elements("bytes ", "bytes", "items ", "")
            from start in Gen.Elements("0", "5", "-1", "9223372036854775807", "99999999999999999999", "*", "")
            from to in Gen.Elements("0", "4", "10", "9223372036854775807", "", "x")
            from length in Gen.Elements("10", "*", "0", "-3", "9223372036854775808", "")
            select $"{unit}{start}-{to}/{length}");

    [Fact]
    public void A_content_range_header_read_as_the_fetchers_read_it_never_crashes_and_is_coherent()
    {
        Fuzz.Check(ContentRange, value =>
        {
            using var content = new ByteArrayContent([]);
            content.Headers.TryAddWithoutValidation("Content-Range", value);
            var range = content.Headers.ContentRange;
            if (range is { From: { } from, To: { } to })
            {
                Assert.True(from >= 0 && to >= from, $"{value} parsed as {from}-{to}");
                Assert.True(range.Length is null || range.Length > to);
            }
            if (ContentRangeHeaderValue.TryParse(value, out var parsed) && parsed.HasRange)
            {
                Assert.True(parsed.From <= parsed.To);
            }
        });
    }

    [Fact]
    public void Escaped_text_holds_no_hidden_character_is_stable_and_leaves_visible_text_as_it_is()
    {
        Fuzz.Check(Fuzz.HostileString, text =>
        {
            var escaped = SafeText.Escape(text);

            foreach (var rune in escaped.EnumerateRunes())
            {
                Assert.False(SafeText.IsHidden(rune), $"U+{rune.Value:X4} left raw in {escaped}");
            }
            // No lone surrogate is left: the text survives UTF-8 unchanged.
            Assert.Equal(escaped, System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(escaped)));
            Assert.Equal(escaped, SafeText.Escape(escaped));
            if (!text.EnumerateRunes().Any(SafeText.IsHidden) && !text.Any(char.IsSurrogate))
            {
                Assert.Equal(text, escaped);
            }
        });
    }
}
