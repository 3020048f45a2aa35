//! `wenzi`: recognize the text in images from the shell.
//!
//! `wenzi IMAGE...` prints each image's lines; `--format` picks JSON, JSON lines, Tesseract TSV,
//! hOCR, ALTO or a searchable PDF (`-o FILE`); PDFs and multi-page TIFFs are read page by page;
//! `-` reads an image from stdin.

mod alloc;
mod draw;

use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use wenzi::image::RgbImage;
use wenzi::{DetectorKind, Engine, Limits, ModelSet, Page};
use wenzi_document::{DocumentOptions, InputKind, PageImage, Pages, SearchablePdf};

#[derive(Parser, Debug)]
#[command(
    name = "wenzi",
    version,
    about = "Chinese + English OCR: print the text lines of images, or serve the HTTP OCR API",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    ocr: OcrArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Serve the image-stream OCR HTTP API (POST /imagerecognition/imagestreamocr?appkey=KEY).
    Serve {
        #[command(flatten)]
        server: Box<wenzi_server::ServeArgs>,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// Manage the server's app keys (add, list, disable, usage, ...).
    Keys(wenzi_server::KeysArgs),
}

#[derive(clap::Args, Debug)]
struct OcrArgs {
    /// Images (PNG, JPEG, BMP, GIF, WebP, TIFF, PNM), PDFs and multi-page TIFFs; `-` reads one
    /// from stdin.
    #[arg(required = true)]
    images: Vec<String>,
    /// Output: text (lines), json (one pretty object per page), jsonl (one compact object per
    /// page per line), tsv (Tesseract's columns), hocr, alto (ALTO 4 XML), pdf (a searchable
    /// PDF: the page images under invisible text; needs -o).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Same as --format json.
    #[arg(long, conflicts_with_all = ["jsonl", "format"])]
    json: bool,
    /// Same as --format jsonl.
    #[arg(long, conflicts_with = "format")]
    jsonl: bool,
    /// Write the output to this file instead of standard output (required for --format pdf).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write the (first) image with numbered line boxes to this PNG file.
    #[arg(long, value_name = "OUT.png")]
    draw: Option<PathBuf>,
    /// Resolution of rendered PDF pages, and the one assumed for images in a searchable PDF.
    #[arg(long, default_value_t = DocumentOptions::default().dpi)]
    dpi: f32,
    /// Refuse documents with more pages than this.
    #[arg(long, env = "WENZI_MAX_PAGES", default_value_t = DocumentOptions::default().max_pages)]
    max_pages: usize,
    #[command(flatten)]
    engine: EngineArgs,
}

/// What `wenzi` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Jsonl,
    Tsv,
    Hocr,
    Alto,
    Pdf,
}

/// How the OCR engine is built (shared by image mode and `serve`).
#[derive(clap::Args, Debug)]
struct EngineArgs {
    /// Line detector: db (neural), classic (no network), auto (db, single lines shortcut).
    #[arg(long, default_value = "auto")]
    detector: DetectorKind,
    /// Model generation: v4 (fast) or v6.
    #[arg(long, default_value = "v4")]
    models: ModelSet,
    /// Inference threads per recognition (default: all cores); with `serve`, per worker
    /// (default: cores / workers).
    #[arg(long)]
    threads: Option<usize>,
    /// Read the .onnx models from this folder instead of the bundled copies.
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Do not turn upside-down lines (skips the orientation network).
    #[arg(long)]
    no_orientation: bool,
    /// Drop lines whose mean character probability is below this.
    #[arg(long, default_value_t = 0.5)]
    min_confidence: f32,
    /// Read lines again with this model set's recognizer when the first reading's confidence
    /// is below --reread-below (the more confident reading wins); `none` reads once.
    #[arg(long, default_value = "none")]
    reread: String,
    /// Confidence under which --reread reads a line again.
    #[arg(long, default_value_t = 0.9)]
    reread_below: f32,
    /// Refuse images with more pixels than this (width x height, read from the header
    /// before decoding).
    #[arg(long, env = "WENZI_MAX_PIXELS", default_value_t = Limits::default().max_pixels)]
    max_pixels: u64,
    /// Refuse pages on which more text lines than this are detected.
    #[arg(long, env = "WENZI_MAX_LINES", default_value_t = Limits::default().max_lines)]
    max_lines: usize,
    /// Largest detector input in pixels; bigger pages are scaled down before detection
    /// (the detector needs about 55 MB per megapixel) [default: 6553600; with serve: 1769472].
    #[arg(long, env = "WENZI_MAX_DETECTOR_PIXELS")]
    max_detector_pixels: Option<u64>,
}

impl EngineArgs {
    /// The engine with its own `--threads` pool (image mode).
    fn build(&self) -> Result<Engine, wenzi::Error> {
        self.build_with(self.threads, self.max_detector_pixels)
    }

    fn build_with(
        &self,
        threads: Option<usize>,
        max_detector_pixels: Option<u64>,
    ) -> Result<Engine, wenzi::Error> {
        let mut builder = Engine::builder()
            .detector(self.detector)
            .models(self.models)
            .classify_orientation(!self.no_orientation)
            .threads(threads)
            .min_confidence(self.min_confidence)
            .reread(match self.reread.as_str() {
                "none" => None,
                set => Some((set.parse()?, self.reread_below)),
            })
            .limits(Limits {
                max_pixels: self.max_pixels,
                max_lines: self.max_lines,
            });
        if let Some(dir) = &self.model_dir {
            builder = builder.model_dir(dir);
        }
        if let Some(px) = max_detector_pixels {
            builder = builder.max_detector_pixels(px);
        }
        builder.build()
    }
}

fn main() -> ExitCode {
    alloc::configure();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Serve { server, engine }) => serve(*server, engine),
        Some(Command::Keys(keys)) => {
            match wenzi_server::block_on(wenzi_server::run_keys_command(&keys)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("wenzi keys: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
        None => ocr_files(cli.ocr),
    }
}

/// The engine as the server's backend: recognition runs on the server's per-worker
/// compute pools (the engine gets no pool of its own), and idle workers hand freed memory
/// back to the operating system.
struct ServeBackend(Engine);

impl wenzi_server::OcrBackend for ServeBackend {
    fn recognize(
        &self,
        upload: &[u8],
        job: &wenzi_server::JobOptions,
    ) -> Result<wenzi_server::OcrOutput, wenzi_server::BackendError> {
        wenzi_server::OcrBackend::recognize(&self.0, upload, job)
    }

    fn idle(&self) {
        alloc::release();
    }
}

/// The detector input cap of `serve` (1536 × 1152, what the adaptive resize aims for
/// anyway): bounds each recognition's memory (docs/server.md).
const SERVE_MAX_DETECTOR_PIXELS: u64 = 1536 * 1152;

/// Free inference buffers one model run holds at once in `serve`.
const SERVE_POOL_RUN_BYTES: usize = 32 << 20;
/// Free inference buffers each model keeps between runs in `serve`.
const SERVE_POOL_KEEP_BYTES: usize = 0;

/// `WENZI_NN_POOL_RUN_MIB` / `WENZI_NN_POOL_KEEP_MIB`: override the inference buffer pool
/// limits (MiB; see `wenzi_nn::set_buffer_pool_limits`), for measurements.
fn pool_limits() -> (Option<usize>, Option<usize>) {
    let mib = |name: &str| -> Option<usize> {
        let v = std::env::var(name).ok()?;
        v.trim().parse::<usize>().ok().map(|m| m << 20)
    };
    (mib("WENZI_NN_POOL_RUN_MIB"), mib("WENZI_NN_POOL_KEEP_MIB"))
}

fn serve(args: wenzi_server::ServeArgs, engine: EngineArgs) -> ExitCode {
    wenzi_server::init_tracing(args.log_format);
    let mut config = match args.to_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wenzi serve: {e:#}");
            return ExitCode::from(2);
        }
    };
    // `--threads` is per worker here: each worker runs its recognitions on its own pool.
    if let Some(t) = engine.threads {
        if t == 0 {
            eprintln!("wenzi serve: --threads must be at least 1");
            return ExitCode::from(2);
        }
        config.app.threads = t;
    }
    // Inference buffers are returned after every run (see docs/server.md, "Memory").
    let (run, keep) = pool_limits();
    wenzi_nn::set_buffer_pool_limits(
        run.unwrap_or(SERVE_POOL_RUN_BYTES),
        keep.unwrap_or(SERVE_POOL_KEEP_BYTES),
    );
    let engine = match engine.build_with(
        None,
        Some(
            engine
                .max_detector_pixels
                .unwrap_or(SERVE_MAX_DETECTOR_PIXELS),
        ),
    ) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("wenzi serve: {e}");
            return ExitCode::from(2);
        }
    };
    let result =
        wenzi_server::block_on(wenzi_server::serve(config, Arc::new(ServeBackend(engine))));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wenzi serve: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn ocr_files(cli: OcrArgs) -> ExitCode {
    if let (Some(_), _) | (_, Some(_)) = pool_limits() {
        let (run, keep) = pool_limits();
        wenzi_nn::set_buffer_pool_limits(run.unwrap_or(usize::MAX), keep.unwrap_or(512 << 20));
    }
    let format = if cli.json {
        Format::Json
    } else if cli.jsonl {
        Format::Jsonl
    } else {
        cli.format
    };
    if format == Format::Pdf && cli.output.is_none() {
        eprintln!("wenzi: --format pdf needs an output file (-o FILE)");
        return ExitCode::from(2);
    }
    let engine = match cli.engine.build() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("wenzi: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out: Box<dyn Write> = match &cli.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => {
                eprintln!("wenzi: cannot create {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let doc_opts = DocumentOptions {
        dpi: cli.dpi,
        max_pages: cli.max_pages,
        max_page_pixels: None,
    };
    // One bar across every page of every input (documents add their pages once opened),
    // drawn on a terminal once there are more than three pages.
    let progress = (format != Format::Json).then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(cli.images.len() as u64),
            indicatif::ProgressDrawTarget::hidden(),
        );
        show_if_long(&bar);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} pages {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut sink = Sink {
        format,
        out: &mut *out,
        pages: Vec::new(),
        pdf: (format == Format::Pdf).then(SearchablePdf::new),
        first_page: true,
    };
    let mut failures = 0usize;
    for (index, name) in cli.images.iter().enumerate() {
        let report = |e: &str| match &progress {
            Some(bar) => bar.suspend(|| eprintln!("wenzi: {name}: {e}")),
            None => eprintln!("wenzi: {name}: {e}"),
        };
        let bytes = match read_input(name) {
            Ok(b) => b,
            Err(e) => {
                failures += 1;
                report(&e);
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
                continue;
            }
        };
        let result = match wenzi_document::sniff(&bytes) {
            InputKind::Pdf | InputKind::Tiff => ocr_document(
                &engine,
                name,
                &bytes,
                &doc_opts,
                &mut sink,
                progress.as_ref(),
            ),
            InputKind::Image => {
                let result = ocr_image(&engine, &bytes, cli.dpi).and_then(|(image, page, ms)| {
                    if index == 0 {
                        if let Some(path) = &cli.draw {
                            if let Err(e) = draw_to(path, image.image.clone(), &page) {
                                eprintln!("wenzi: --draw {}: {e}", path.display());
                                failures += 1;
                            }
                        }
                    }
                    sink.page(name, None, &image, page, ms)
                });
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
                result
            }
        };
        if let Err(e) = result {
            if e == STDOUT_CLOSED {
                return ExitCode::from(1); // stdout closed (e.g. piped into `head`)
            }
            failures += 1;
            report(&e);
            if format == Format::Jsonl {
                // Keep one object per input so batch readers stay aligned.
                let obj = serde_json::json!({"file": name, "lines": [], "ms": 0.0, "error": e});
                let _ = writeln!(sink.out, "{obj}");
            }
        }
        let _ = sink.out.flush();
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if let Err(e) = sink.finish() {
        eprintln!("wenzi: {e}");
        failures += 1;
    }
    if out.flush().is_err() {
        return ExitCode::from(1);
    }
    if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn show_if_long(bar: &indicatif::ProgressBar) {
    if bar.length().unwrap_or(0) > 3 && bar.is_hidden() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
}

/// The error text for a closed standard output (stop quietly).
const STDOUT_CLOSED: &str = "standard output closed";

/// Decodes and recognizes one image; returns it, its page and the milliseconds taken.
fn ocr_image(engine: &Engine, bytes: &[u8], dpi: f32) -> Result<(PageImage, Page, f64), String> {
    let t = Instant::now();
    // Decode once: the same pixels are recognized and, with --draw, drawn on.
    let image = engine.decode(bytes).map_err(|e| e.to_string())?;
    let decoded = t.elapsed();
    let mut page = engine.recognize_image(&image).map_err(|e| e.to_string())?;
    page.timings.decode = decoded;
    page.timings.total = t.elapsed();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    Ok((PageImage { image, dpi }, page, ms))
}

/// Recognizes every page of a PDF or multi-page TIFF.
fn ocr_document(
    engine: &Engine,
    name: &str,
    bytes: &[u8],
    opts: &DocumentOptions,
    sink: &mut Sink<'_>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<(), String> {
    let mut pages = Pages::open(engine, bytes, opts).map_err(|e| e.to_string())?;
    let count = pages.len();
    if let Some(bar) = progress {
        bar.inc_length(count.saturating_sub(1) as u64);
        show_if_long(bar);
    }
    for index in 0..count {
        let t = Instant::now();
        let result = pages
            .image(index)
            .map_err(|e| e.to_string())
            .and_then(|image| {
                let decoded = t.elapsed();
                let mut page = engine
                    .recognize_image(&image.image)
                    .map_err(|e| format!("page {}: {e}", index + 1))?;
                page.timings.decode = decoded;
                page.timings.total = t.elapsed();
                let ms = t.elapsed().as_secs_f64() * 1e3;
                sink.page(name, Some(index + 1), &image, page, ms)
            });
        if let Some(bar) = progress {
            bar.inc(1);
        }
        result?;
    }
    Ok(())
}

/// Where recognized pages go: printed at once (text, JSON) or gathered for a whole-document
/// format (TSV, hOCR, ALTO, PDF).
struct Sink<'a> {
    format: Format,
    out: &'a mut dyn Write,
    pages: Vec<Page>,
    pdf: Option<SearchablePdf>,
    first_page: bool,
}

impl Sink<'_> {
    fn page(
        &mut self,
        file: &str,
        number: Option<usize>,
        image: &PageImage,
        page: Page,
        ms: f64,
    ) -> Result<(), String> {
        let printed = match self.format {
            Format::Text => {
                // Pages of one document are separated by a form feed, as Tesseract does.
                let separator = if number.is_some_and(|n| n > 1) && !self.first_page {
                    writeln!(self.out, "\u{c}")
                } else {
                    Ok(())
                };
                separator.and_then(|_| {
                    page.lines
                        .iter()
                        .try_for_each(|l| writeln!(self.out, "{}", l.text))
                })
            }
            Format::Json | Format::Jsonl => {
                let obj = PageJson::new(file, number, &page, ms);
                let text = if self.format == Format::Json {
                    serde_json::to_string_pretty(&obj)
                } else {
                    serde_json::to_string(&obj)
                };
                let text = text.map_err(|e| format!("cannot write JSON: {e}"))?;
                writeln!(self.out, "{text}")
            }
            Format::Tsv | Format::Hocr | Format::Alto => {
                self.pages.push(page);
                Ok(())
            }
            Format::Pdf => {
                if let Some(pdf) = &mut self.pdf {
                    pdf.add_page(&image.image, &page, image.dpi)
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        };
        self.first_page = false;
        printed.map_err(|_| STDOUT_CLOSED.to_string())
    }

    /// Writes the whole-document formats.
    fn finish(&mut self) -> Result<(), String> {
        let written = match self.format {
            Format::Tsv => self
                .out
                .write_all(wenzi_document::tsv(&self.pages).as_bytes()),
            Format::Hocr => self
                .out
                .write_all(wenzi_document::hocr(&self.pages).as_bytes()),
            Format::Alto => self
                .out
                .write_all(wenzi_document::alto(&self.pages).as_bytes()),
            Format::Pdf => match self.pdf.take() {
                Some(pdf) => self.out.write_all(&pdf.finish()),
                None => Ok(()),
            },
            _ => Ok(()),
        };
        written.map_err(|e| format!("cannot write the output: {e}"))
    }
}

fn read_input(name: &str) -> Result<Vec<u8>, String> {
    if name == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        Ok(bytes)
    } else {
        std::fs::read(name).map_err(|e| format!("cannot read file: {e}"))
    }
}

/// One page of `--format json|jsonl`: the page's own JSON (see `wenzi::Page`) between the
/// CLI's fields, which keep their names (`file`, `page` from 1 for documents, `ms`).
#[derive(serde::Serialize)]
struct PageJson<'a> {
    file: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<usize>,
    #[serde(flatten)]
    result: &'a Page,
    /// Wall time for the page, rounded to 0.1 ms.
    ms: f64,
}

impl<'a> PageJson<'a> {
    fn new(file: &'a str, page: Option<usize>, result: &'a Page, ms: f64) -> Self {
        Self {
            file,
            page,
            result,
            ms: (ms * 10.0).round() / 10.0,
        }
    }
}

fn draw_to(path: &PathBuf, mut image: RgbImage, page: &Page) -> Result<(), String> {
    let quads: Vec<_> = page.lines.iter().map(|l| l.quad).collect();
    draw::draw_boxes(&mut image, &quads);
    image
        .save_with_format(path, wenzi::image::ImageFormat::Png)
        .map_err(|e| e.to_string())
}
