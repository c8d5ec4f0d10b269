//! End-to-end searches with the hand-built colour model over a generated library.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::colour::{colour_library, ColourLibrary, ColourModel, Swatch, Truth, NAMED_FILE_ID};
use magpie_searcher::engine::find_duplicates;
use magpie_searcher::query::QueryError;
use magpie_searcher::{
    EmbeddingCache, Filters, SearchError, SearchMode, SearchRequest, SearchResponse, Searcher,
    SearcherConfig, SortOrder, TagRule, WeightedImage, WeightedLike, WeightedText,
};

fn searcher_with(model: Arc<ColourModel>, config: SearcherConfig) -> Searcher {
    Searcher::new(
        model.clone(),
        Some(model),
        Arc::new(EmbeddingCache::new(64, None)),
        config,
    )
}

fn setup() -> (ColourLibrary, Arc<ColourModel>, Searcher) {
    let model = Arc::new(ColourModel::default());
    let searcher = searcher_with(model.clone(), SearcherConfig::default());
    (colour_library(), model, searcher)
}

fn search(searcher: &Searcher, library: &ColourLibrary, request: SearchRequest) -> SearchResponse {
    searcher.search(&library.index, &request).expect("search")
}

fn ids(response: &SearchResponse) -> Vec<u64> {
    response.hits.iter().map(|h| h.id).collect()
}

fn is_red(swatch: Swatch) -> bool {
    matches!(swatch, Swatch::Bright("red") | Swatch::Dark("red"))
}

#[test]
fn red_returns_only_red_images_in_the_top_10() {
    let (library, _, searcher) = setup();
    let response = search(&searcher, &library, SearchRequest::text("red"));
    assert!(response.hits.len() >= 10);
    for hit in &response.hits[..10] {
        assert!(
            is_red(library.swatch(hit.id)),
            "{:?}",
            library.swatch(hit.id)
        );
    }
    // The cutoff stops before the junk: no grey, blue, green, cyan in the results at all.
    for hit in &response.hits {
        assert!(
            !matches!(
                library.swatch(hit.id),
                Swatch::Grey | Swatch::Bright("blue" | "green" | "cyan")
            ),
            "junk after the cutoff: {:?}",
            library.swatch(hit.id)
        );
    }
}

#[test]
fn red_minus_dark_excludes_dark_red() {
    let (library, _, searcher) = setup();
    let response = search(&searcher, &library, SearchRequest::text("red -dark"));
    assert!(!response.hits.is_empty());
    for hit in &response.hits[..10] {
        assert_eq!(library.swatch(hit.id), Swatch::Bright("red"));
    }
    assert!(response
        .hits
        .iter()
        .all(|h| library.swatch(h.id) != Swatch::Dark("red")));
    // Without the negative term, dark reds are among the results.
    let plain = search(&searcher, &library, SearchRequest::text("red"));
    assert!(plain
        .hits
        .iter()
        .any(|h| library.swatch(h.id) == Swatch::Dark("red")));
}

#[test]
fn filters_return_exactly_the_matching_set() {
    let (library, model, searcher) = setup();
    let hnsw_path = searcher_with(
        model,
        SearcherConfig {
            exact_scan_max_ids: 0,
            exact_scan_max_fraction: 0.0,
            ..SearcherConfig::default()
        },
    );
    let day = |date: &str| magpie_catalog::parse_date(date, false).unwrap();
    // Each filter set with what it must select, stated over the fixture's own metadata — not
    // through `Filters::matches`, which the index under test uses itself.
    type Expect = Box<dyn Fn(&Truth) -> bool>;
    let cases: Vec<(&[&str], Expect)> = vec![
        (
            &["folder=/lib/2021/lisbon"],
            Box::new(|t| t.folder == "2021/lisbon"),
        ),
        (
            &["after=2022-01-01", "before=2023-12-31"],
            Box::new(move |t| (day("2022-01-01")..day("2024-01-01")).contains(&t.date())),
        ),
        // No EXIF date: the file's date (2017) counts, and is not after 2020.
        (&["after=2020-01-01"], Box::new(|t| t.taken_at.is_some())),
        (
            &["camera=canon"],
            Box::new(|t| t.camera.starts_with("Canon")),
        ),
        // Words, not substrings: "can" is no word of "Canon EOS R5".
        (&["camera=can"], Box::new(|_| false)),
        (
            &["camera=iPhone-12"],
            Box::new(|t| t.camera == "Apple iPhone 12"),
        ),
        (
            &["type=png", "type=.HEIC"],
            Box::new(|t| matches!(t.extension, "PNG" | "heic")),
        ),
        (
            &["min-pixels=4000x3000"],
            Box::new(|t| t.width * t.height >= 12_000_000),
        ),
        (&["orientation=portrait"], Box::new(|t| t.height > t.width)),
        (&["tag=beach"], Box::new(|t| t.beach)),
        (
            &["folder=/lib/2023", "orientation=square", "camera=iphone"],
            Box::new(|t| {
                t.folder.starts_with("2023/") && t.width == t.height && t.camera.contains("iPhone")
            }),
        ),
        (&["folder=/lib/2021/lis"], Box::new(|_| false)),
        (&["folder=/nowhere"], Box::new(|_| false)),
    ];
    for (pairs, expect) in cases {
        let mut filters = Filters::default();
        for pair in pairs {
            filters.set_pair(pair).unwrap();
        }
        let expected = library.ids_where(expect);
        for s in [&searcher, &hnsw_path] {
            let request = SearchRequest {
                filters: filters.clone(),
                mode: SearchMode::Vector,
                min_score: Some(-1.0),
                limit: 1000,
                ..SearchRequest::text("red")
            };
            let got: HashSet<u64> = ids(&search(s, &library, request)).into_iter().collect();
            assert_eq!(got, expected, "{pairs:?}");
        }
    }
}

#[test]
fn hybrid_finds_a_file_by_its_name() {
    let (library, _, searcher) = setup();
    for query in ["IMG_2041", "img 2041", "IMG_2041.JPG"] {
        let response = search(&searcher, &library, SearchRequest::text(query));
        assert_eq!(response.hits[0].id, NAMED_FILE_ID, "{query}");
        assert!(response.hits[0].keyword_score.is_some());
    }
    // Vector mode alone cannot: the colour model sees no colour in the name.
    let vector_only = SearchRequest {
        mode: SearchMode::Vector,
        ..SearchRequest::text("IMG_2041")
    };
    assert_ne!(
        ids(&search(&searcher, &library, vector_only))[0],
        NAMED_FILE_ID
    );
}

#[test]
fn hybrid_surfaces_keyword_matches_and_keeps_semantic_ones() {
    let (library, _, searcher) = setup();
    let lisbon = library.ids_where(|t| t.folder == "2021/lisbon");
    let response = search(
        &searcher,
        &library,
        SearchRequest {
            limit: 1000,
            ..SearchRequest::text("lisbon")
        },
    );
    let found: HashSet<u64> = ids(&response).into_iter().collect();
    assert!(lisbon.is_subset(&found));
    // "red" in hybrid mode still finds red by meaning (no file is named red).
    let red = search(&searcher, &library, SearchRequest::text("red"));
    assert!(red.hits[..10].iter().all(|h| is_red(library.swatch(h.id))));
}

#[test]
fn keyword_mode_matches_only_keywords() {
    let (library, _, searcher) = setup();
    let request = SearchRequest {
        mode: SearchMode::Keyword,
        ..SearchRequest::text("beach")
    };
    let response = search(&searcher, &library, request);
    let tagged = library.ids_where(|t| t.beach);
    assert_eq!(response.total, tagged.len());
    assert_eq!(response.cutoff_score, None);
}

#[test]
fn image_and_like_queries_mix_with_text() {
    let (library, _, searcher) = setup();
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("query.rgb");
    std::fs::write(&image, "240 1 1").unwrap();
    let request = SearchRequest {
        images: vec![WeightedImage {
            path: image,
            weight: 1.0,
        }],
        ..SearchRequest::default()
    };
    let response = search(&searcher, &library, request);
    assert!(response.hits[..10]
        .iter()
        .all(|h| library.swatch(h.id) == Swatch::Bright("blue")));

    // Like a bright green photo, but dark: `--like ID -text bright`.
    let green = library
        .swatches
        .iter()
        .find(|(_, s)| *s == Swatch::Bright("green"))
        .unwrap()
        .0;
    let request = SearchRequest {
        texts: vec![WeightedText {
            text: "bright".into(),
            weight: -1.0,
        }],
        like: vec![WeightedLike {
            id: green,
            weight: 1.0,
        }],
        mode: SearchMode::Vector,
        ..SearchRequest::default()
    };
    let response = search(&searcher, &library, request);
    assert!(
        !ids(&response).contains(&green),
        "the liked photo itself is left out"
    );
    assert_eq!(library.swatch(response.hits[0].id), Swatch::Dark("green"));
}

#[test]
fn sort_by_date_and_paginate_after_the_cutoff() {
    let (library, _, searcher) = setup();
    let by_relevance = search(&searcher, &library, SearchRequest::text("red"));
    let request = SearchRequest {
        sort: SortOrder::Date,
        limit: 1000,
        ..SearchRequest::text("red")
    };
    let by_date = search(&searcher, &library, request.clone());
    assert_eq!(by_date.total, by_relevance.total);
    let relevant: HashSet<u64> = ids(&by_relevance).into_iter().collect();
    assert_eq!(ids(&by_date).into_iter().collect::<HashSet<_>>(), relevant);
    // Newest first by the date a person means: taken-at, else the file's date.
    let dates: Vec<i64> = by_date
        .hits
        .iter()
        .map(|h| {
            library
                .truths
                .iter()
                .find(|(id, _)| *id == h.id)
                .unwrap()
                .1
                .date()
        })
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
    assert!(
        dates.contains(&common::memory_index::FILE_DATE),
        "the fixture has photos dated by their file only"
    );

    let page = search(
        &searcher,
        &library,
        SearchRequest {
            offset: 3,
            limit: 4,
            ..request
        },
    );
    assert_eq!(ids(&page), ids(&by_date)[3..7].to_vec());
    assert_eq!(page.total, by_date.total);
}

#[test]
fn min_score_overrides_the_cutoff() {
    let (library, _, searcher) = setup();
    let everything = SearchRequest {
        min_score: Some(-1.0),
        mode: SearchMode::Vector,
        limit: 1000,
        ..SearchRequest::text("red")
    };
    assert_eq!(
        search(&searcher, &library, everything).total,
        library.index.images.len()
    );
    let strict = SearchRequest {
        min_score: Some(0.99),
        mode: SearchMode::Vector,
        ..SearchRequest::text("red")
    };
    let response = search(&searcher, &library, strict);
    assert!(response.hits.iter().all(|h| h.score >= 0.99));
    assert_eq!(response.cutoff_score, Some(0.99));
}

#[test]
fn a_repeated_query_makes_no_model_call() {
    let (library, model, searcher) = setup();
    let first = search(&searcher, &library, SearchRequest::text("red -dark"));
    let calls = model.calls();
    assert!(calls >= 1);
    let second = search(&searcher, &library, SearchRequest::text("red -dark"));
    assert_eq!(model.calls(), calls);
    assert_eq!(ids(&first), ids(&second));
}

#[test]
fn clear_errors() {
    let (library, _, searcher) = setup();
    let run = |request: SearchRequest| searcher.search(&library.index, &request).unwrap_err();

    assert!(matches!(
        run(SearchRequest::text("   ")),
        SearchError::Query(QueryError::Empty)
    ));
    assert!(matches!(
        run(SearchRequest::text("-red")),
        SearchError::Query(QueryError::NoPositiveWeight)
    ));
    let missing = SearchRequest {
        images: vec![WeightedImage {
            path: "/no/such/photo.jpg".into(),
            weight: 1.0,
        }],
        ..SearchRequest::default()
    };
    let error = run(missing);
    assert!(matches!(error, SearchError::UnreadableImage { .. }));
    assert!(error.to_string().contains("/no/such/photo.jpg"));
    let unknown = SearchRequest {
        like: vec![WeightedLike {
            id: 123_456,
            weight: 1.0,
        }],
        ..SearchRequest::default()
    };
    assert!(matches!(
        run(unknown),
        SearchError::UnknownImage { id: 123_456 }
    ));
    assert!(matches!(
        run(SearchRequest {
            limit: 0,
            ..SearchRequest::text("red")
        }),
        SearchError::InvalidLimit { .. }
    ));

    // An unknown filter, from the CLI and from JSON.
    let error = Filters::default().set_pair("colour=red").unwrap_err();
    assert!(error.to_string().contains("unknown filter \"colour\""));
    assert!(
        serde_json::from_str::<SearchRequest>(r#"{"query":"red","filters":{"colour":"red"}}"#)
            .is_err()
    );

    // A library built with another model.
    let other = Arc::new(ColourModel {
        key: Some("colour-v2".into()),
        ..ColourModel::default()
    });
    let searcher = searcher_with(other, SearcherConfig::default());
    let error = searcher
        .search(&library.index, &SearchRequest::text("red"))
        .unwrap_err();
    assert!(matches!(error, SearchError::ModelMismatch { .. }));
    assert!(error.to_string().contains("colour-v1"));
}

#[test]
fn zero_shot_tags_follow_the_colours() {
    let (library, _, searcher) = setup();
    let labels: Vec<String> = ["red", "green", "blue"].map(String::from).to_vec();
    let tagged = searcher
        .tag_images(&library.index, &labels, &TagRule::default())
        .unwrap();
    assert_eq!(tagged.len(), library.index.images.len());
    for image in &tagged {
        if let Swatch::Bright(colour @ ("red" | "green" | "blue")) = library.swatch(image.id) {
            assert_eq!(image.tags[0].label, colour);
        }
    }
}

#[test]
fn near_duplicates_need_no_model_and_group_similar_swatches() {
    // In the colour library, identical-looking swatches are near-duplicates of each other.
    let (library, _, _) = setup();
    let groups = find_duplicates(&library.index, 0.999, 8).unwrap();
    assert!(!groups.is_empty());
    for group in &groups {
        let swatch = library.swatch(group.members[0].id);
        assert!(group.members.iter().all(|m| library.swatch(m.id) == swatch));
    }
}
