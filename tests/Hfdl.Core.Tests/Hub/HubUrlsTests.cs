using Hfdl.Core.Hub;

namespace Hfdl.Core.Tests.Hub;

public sealed class HubUrlsTests
{
    private static readonly Uri Hub = new("https://huggingface.co");

    [Theory]
    [InlineData("http://user:s3cretpass@127.0.0.1:8080", "http://127.0.0.1:8080")]
    [InlineData("https://s3cretpass@hub.example/mirror/", "https://hub.example/mirror")]
    [InlineData("https://user:s3cret%40pass@hub.example", "https://hub.example")]
    [InlineData("https://huggingface.co", "https://huggingface.co")]
    public void An_endpoint_is_shown_without_its_user_name_and_password(string endpoint, string shown)
    {
        var url = new Uri(endpoint);

        Assert.Equal(shown, HubUrls.DisplayBase(url));
        Assert.Equal(new Uri(shown).GetLeftPart(UriPartial.Authority), HubUrls.Display(url, UriPartial.Authority));
        Assert.Equal(HubUrls.Base(url), url.GetLeftPart(UriPartial.Path).TrimEnd('/')); // requests still go where the URL says
    }

    [Fact]
    public void Text_with_an_endpoint_that_does_not_parse_loses_its_user_info_too()
    {
        Assert.Equal("see ftp://host:99999/x and http://h/a@b", HubUrls.DisplayText("see ftp://u:s3cretpass@host:99999/x and http://h/a@b"));
    }

    [Theory]
    [InlineData("main", "main")]
    [InlineData("refs/pr/1", "refs%2Fpr%2F1")]
    [InlineData("refs/convert/parquet", "refs%2Fconvert%2Fparquet")]
    [InlineData("v1.0", "v1.0")]
    [InlineData("feature/a b", "feature%2Fa%20b")]
    [InlineData("a+b#c?d%e", "a%2Bb%23c%3Fd%25e")]
    [InlineData("dd4bc8b21efa05ec961e3efc4ee5e3832a3679c7", "dd4bc8b21efa05ec961e3efc4ee5e3832a3679c7")]
    public void A_revision_is_encoded_as_one_segment_like_python_quote_with_no_safe_characters(string revision, string expected)
    {
        Assert.Equal(expected, HubUrls.EncodeRevision(revision));
    }

    // Expected values are Python's urllib.parse.quote(path) (safe="/"), worked out by hand: unreserved
    // A-Z a-z 0-9 _ . - ~ and "/" stay, everything else is %XX of its UTF-8 bytes, upper-case hex.
    [Theory]
    [InlineData("config.json", "config.json")]
    [InlineData("onnx/model.onnx", "onnx/model.onnx")]
    [InlineData("my file.txt", "my%20file.txt")]
    [InlineData("a#b.txt", "a%23b.txt")]
    [InlineData("c++.txt", "c%2B%2B.txt")]
    [InlineData("what?.md", "what%3F.md")]
    [InlineData("100%.txt", "100%25.txt")]
    [InlineData("a&b=c;d.txt", "a%26b%3Dc%3Bd.txt")]
    [InlineData("modèle/poids.bin", "mod%C3%A8le/poids.bin")]
    [InlineData("日本/語.txt", "%E6%97%A5%E6%9C%AC/%E8%AA%9E.txt")]
    [InlineData("emoji-😀.txt", "emoji-%F0%9F%98%80.txt")]
    [InlineData(".gitattributes", ".gitattributes")]
    [InlineData("~tilde_under-score.bin", "~tilde_under-score.bin")]
    public void A_file_path_keeps_its_slashes_and_escapes_the_rest_as_utf8(string path, string expected)
    {
        Assert.Equal(expected, HubUrls.EncodePath(path));
    }

    [Fact]
    public void The_resolve_url_survives_Uri_without_being_unescaped()
    {
        var url = HubUrls.Resolve(Hub, RepoType.Model, RepoId.Parse("org/name"), "refs/pr/1", "sub dir/a#b+c?.txt");

        Assert.Equal("https://huggingface.co/org/name/resolve/refs%2Fpr%2F1/sub%20dir/a%23b%2Bc%3F.txt", url.AbsoluteUri);
        Assert.Equal("/org/name/resolve/refs%2Fpr%2F1/sub%20dir/a%23b%2Bc%3F.txt", url.AbsolutePath);
        Assert.Equal("", url.Query);
        Assert.Equal("", url.Fragment);
    }

    [Theory]
    [InlineData(RepoType.Model, "https://huggingface.co/gpt2/resolve/main/config.json")]
    [InlineData(RepoType.Dataset, "https://huggingface.co/datasets/gpt2/resolve/main/config.json")]
    [InlineData(RepoType.Space, "https://huggingface.co/spaces/gpt2/resolve/main/config.json")]
    public void Resolve_urls_use_the_file_prefix_of_the_repo_type(RepoType type, string expected)
    {
        Assert.Equal(expected, HubUrls.Resolve(Hub, type, RepoId.Parse("gpt2"), "main", "config.json").AbsoluteUri);
    }

    [Fact]
    public void Api_urls_use_the_plural_type_and_keep_the_slash_of_the_id()
    {
        var id = RepoId.Parse("google-bert/bert-base-uncased");

        Assert.Equal("https://huggingface.co/api/models/google-bert/bert-base-uncased",
            HubUrls.RepoInfo(Hub, RepoType.Model, id, null).AbsoluteUri);
        Assert.Equal("https://huggingface.co/api/datasets/google-bert/bert-base-uncased/revision/refs%2Fconvert%2Fparquet?blobs=true",
            HubUrls.RepoInfo(Hub, RepoType.Dataset, id, "refs/convert/parquet", "blobs=true").AbsoluteUri);
        Assert.Equal("https://huggingface.co/api/spaces/google-bert/bert-base-uncased/tree/main?recursive=true&expand=false",
            HubUrls.Tree(Hub, RepoType.Space, id, "main", null, recursive: true, expand: false).AbsoluteUri);
        Assert.Equal("https://huggingface.co/api/models/google-bert/bert-base-uncased/tree/main/sub%20dir/x?recursive=false&expand=true",
            HubUrls.Tree(Hub, RepoType.Model, id, "main", "/sub dir/x/", recursive: false, expand: true).AbsoluteUri);
        Assert.Equal("https://huggingface.co/api/models/google-bert/bert-base-uncased/paths-info/refs%2Fpr%2F2",
            HubUrls.PathsInfo(Hub, RepoType.Model, id, "refs/pr/2").AbsoluteUri);
        Assert.Equal("https://huggingface.co/api/whoami-v2", HubUrls.WhoAmI(Hub).AbsoluteUri);
    }

    [Theory]
    [InlineData("https://huggingface.co", "https://huggingface.co")]
    [InlineData("https://huggingface.co/", "https://huggingface.co")]
    [InlineData("http://127.0.0.1:5000/", "http://127.0.0.1:5000")]
    [InlineData("https://mirror.example/hf/", "https://mirror.example/hf")]
    [InlineData("https://mirror.example/hf?x=1", "https://mirror.example/hf")]
    public void The_base_drops_a_trailing_slash_and_any_query(string endpoint, string expected)
    {
        Assert.Equal(expected, HubUrls.Base(new Uri(endpoint)));
    }

    [Theory]
    [InlineData(RepoType.Model, "org/name", "https://huggingface.co/org/name")]
    [InlineData(RepoType.Dataset, "org/name", "https://huggingface.co/datasets/org/name")]
    [InlineData(RepoType.Space, "org/name", "https://huggingface.co/spaces/org/name")]
    public void The_repo_page_is_where_a_user_requests_access(RepoType type, string id, string expected)
    {
        Assert.Equal(expected, HubUrls.RepoPage(new Uri("https://huggingface.co/"), type, RepoId.Parse(id)));
    }

    [Fact]
    public void The_real_tree_Link_header_yields_its_next_url_verbatim()
    {
        // hub-api.md §2.2, observed live (cursor shortened).
        const string header = "<https://huggingface.co/api/datasets/allenai/c4/tree/main/en?expand=false&recursive=true&limit=1000&cursor=ZXlKbWFXeGxYMjVoYldVaU9pSmxiaTlqTkMxMGNtRnBiaTR3TURBd01TMXZaaTB3TVRBeU5DNXFjMjl1TG1kNklpd2lkSEpsWlY5dmFXUWlPaUppWldWaE56ZzRZVEptT0dNMU56QTRZVGsxTldJMVpqQTNPREl5TnpjeE5qWmlOREk0WmpWbUluMD06MTAwMA%3D%3D>; rel=\"next\"";

        var next = HubUrls.ParseNextLink(header);

        Assert.NotNull(next);
        Assert.Equal("https", next.Scheme);
        Assert.Equal("huggingface.co", next.Host);
        Assert.Equal("/api/datasets/allenai/c4/tree/main/en", next.AbsolutePath);
        Assert.EndsWith("cursor=ZXlKbWFXeGxYMjVoYldVaU9pSmxiaTlqTkMxMGNtRnBiaTR3TURBd01TMXZaaTB3TVRBeU5DNXFjMjl1TG1kNklpd2lkSEpsWlY5dmFXUWlPaUppWldWaE56ZzRZVEptT0dNMU56QTRZVGsxTldJMVpqQTNPREl5TnpjeE5qWmlOREk0WmpWbUluMD06MTAwMA%3D%3D", next.Query);
    }

    [Theory]
    [InlineData("<https://h.example/tree?cursor=a,b,c&x=1>; rel=\"next\"", "https://h.example/tree?cursor=a,b,c&x=1")]
    [InlineData("<https://h.example/p1>; rel=\"prev\", <https://h.example/p3>; rel=\"next\"", "https://h.example/p3")]
    [InlineData("<https://h.example/p3>; rel=\"next\", <https://h.example/p1>; rel=\"prev\"", "https://h.example/p3")]
    [InlineData("<https://h.example/a,b>; rel=\"prev\", <https://h.example/c,d>; rel=\"next\"", "https://h.example/c,d")]
    [InlineData("<https://h.example/n>;rel=next", "https://h.example/n")]
    [InlineData("<https://h.example/n>; REL=\"NEXT\"", "https://h.example/n")]
    [InlineData("<https://h.example/n>; rel=\"prefetch next\"", "https://h.example/n")]
    [InlineData("<https://h.example/x>; title=\"t\"; rel=\"next\"", "https://h.example/x")]
    [InlineData("<http://127.0.0.1:8080/api/models/a/b/tree/main?cursor=1>; rel=\"next\"", "http://127.0.0.1:8080/api/models/a/b/tree/main?cursor=1")]
    public void The_next_link_is_found_among_several_and_despite_commas_in_urls(string header, string expected)
    {
        Assert.Equal(new Uri(expected), HubUrls.ParseNextLink(header));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("<https://h.example/p1>; rel=\"prev\"")]
    [InlineData("<https://h.example/p1>")]
    [InlineData("</api/models/a/b/tree/main?cursor=x>; rel=\"next\"")]
    [InlineData("<api/models/a/b/tree/main?cursor=x>; rel=\"next\"")]
    [InlineData("<file:///etc/passwd>; rel=\"next\"")]
    [InlineData("<ftp://h.example/x>; rel=\"next\"")]
    [InlineData("<javascript:alert(1)>; rel=\"next\"")]
    [InlineData("<https://h.example/x; rel=\"next\"")]
    [InlineData("https://h.example/x>; rel=\"next\"")]
    [InlineData("<https://h.example/x>; rel=\"nextpage\"")]
    public void No_usable_next_link_gives_null(string? header)
    {
        Assert.Null(HubUrls.ParseNextLink(header));
    }

    [Fact]
    public void An_absurdly_long_Link_header_is_ignored()
    {
        var header = $"<https://h.example/{new string('a', 20_000)}>; rel=\"next\"";
        Assert.Null(HubUrls.ParseNextLink(header));
    }

    [Theory]
    [InlineData("https://huggingface.co/a", "https://huggingface.co/b?x=1", true)]
    [InlineData("https://huggingface.co/a", "https://HuggingFace.co:443/b", true)]
    [InlineData("http://127.0.0.1:5000/a", "http://127.0.0.1:5000/api/resolve-cache/x", true)]
    [InlineData("https://huggingface.co/a", "http://huggingface.co/a", false)]
    [InlineData("https://huggingface.co/a", "https://huggingface.co:8443/a", false)]
    [InlineData("https://huggingface.co/a", "https://cdn-lfs.hf.co/a", false)]
    [InlineData("https://huggingface.co/a", "https://huggingface.co.evil.example/a", false)]
    [InlineData("https://huggingface.co/a", "https://us.aws.cdn.hf.co/xet-bridge-us/a", false)]
    [InlineData("http://127.0.0.1:5000/a", "http://localhost:5000/a", false)]
    public void Only_the_same_scheme_host_and_port_count_as_the_same_origin(string a, string b, bool same)
    {
        Assert.Equal(same, HubUrls.IsSameOrigin(new Uri(a), new Uri(b)));
        Assert.Equal(same, HubUrls.IsSameOrigin(new Uri(b), new Uri(a)));
    }
}
