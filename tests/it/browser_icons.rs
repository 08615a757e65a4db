//! The app's PNG icons are the favicon's design: each is rendered here in Chromium from
//! its SVG (`favicon.svg`, or `icon-maskable.svg` for the full-bleed maskable ones) and
//! compared with the committed file, pixel by pixel. After changing either SVG, write them
//! again with `BOOKCHAT_ICONS=write cargo test --test it browser_icons`: they are written
//! repacked (`png_pack.rs`), and checked against the SVG before they are.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;

use crate::browser::open_page;
use crate::support::TestServer;
use crate::webdriver::Driver;

/// Each PNG, the SVG it is drawn from, and its size in pixels.
const ICONS: [(&str, &str, u32); 4] = [
    ("icon-192.png", "favicon.svg", 192),
    ("icon-512.png", "favicon.svg", 512),
    ("icon-maskable-192.png", "icon-maskable.svg", 192),
    ("icon-maskable-512.png", "icon-maskable.svg", 512),
];

/// Draws a file of `/static/` on a square canvas; SVGs are drawn at that size, not scaled up.
const DRAW: &str = "const draw = async (src, size) => {
    const image = new Image();
    image.src = src;
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = size;
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0, size, size);
    return { canvas, context, width: image.naturalWidth, height: image.naturalHeight };
};";

/// The SVG rendered as a PNG data URL, transparent where the SVG draws nothing.
const RENDER: &str = "const [svg, size] = arguments;
    return draw('/static/' + svg, size).then(({ canvas }) => canvas.toDataURL('image/png'));";

/// A PNG's size, and how far its pixels are from the SVG's (0 to 255).
const COMPARE: &str = "const [svg, png, size] = arguments;
    return (async () => {
        const want = await draw('/static/' + svg, size);
        const have = await draw(png, size);
        const a = want.context.getImageData(0, 0, size, size).data;
        const b = have.context.getImageData(0, 0, size, size).data;
        let sum = 0;
        for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
        return { width: have.width, height: have.height, mean: sum / a.length };
    })();";

#[tokio::test]
async fn icons_are_the_favicon_rendered_at_their_sizes() {
    let Some(driver) = Driver::start_or_skip("browser icon test").await else {
        return;
    };
    let server = TestServer::start().await;
    let session = driver.desktop().await;
    open_page(&session, &server).await;
    let write = std::env::var("BOOKCHAT_ICONS").is_ok_and(|v| v == "write");
    for (png, svg, size) in ICONS {
        let mut source = format!("/static/{png}");
        if write {
            let url = session
                .eval(&format!("{DRAW}\n{RENDER}"), json!([svg, size]))
                .await;
            let encoded = url
                .as_str()
                .and_then(|u| u.strip_prefix("data:image/png;base64,"))
                .expect("a PNG data URL");
            let bytes = STANDARD.decode(encoded).expect("base64");
            let packed = crate::png_pack::repack(&bytes);
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("assets/static")
                .join(png);
            std::fs::write(&path, &packed).unwrap();
            eprintln!(
                "wrote {} ({} bytes; {} as rendered)",
                path.display(),
                packed.len(),
                bytes.len()
            );
            source = format!("data:image/png;base64,{}", STANDARD.encode(&packed));
        }
        let compared = session
            .eval(&format!("{DRAW}\n{COMPARE}"), json!([svg, source, size]))
            .await;
        eprintln!("{png} against {svg}: {compared}");
        assert_eq!(compared["width"], size, "{png}");
        assert_eq!(compared["height"], size, "{png}");
        let mean = compared["mean"].as_f64().expect("a difference");
        assert!(mean < 1.5, "{png} is not {svg} at {size} px: {compared}");
    }
    session.quit().await;
    server.stop().await;
}
