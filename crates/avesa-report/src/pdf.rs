//! A [`Document`] laid out as an A4 PDF: the tenant's branding in a header band, the
//! key figures as cards (value, change against the previous period, goal status), the
//! trends as bar charts, and tables, flowing onto as many pages as they need, each page
//! footed with the branding's footer and its number.
//!
//! Text is set in the PDF standard fonts (Helvetica, Helvetica-Bold) with
//! WinAnsiEncoding: Western European text shows as written; a character outside that
//! set shows as `?`. Nothing is embedded, so a report is a few tens of kilobytes.

use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use crate::fonts;
use crate::logo::{Image, Logo};

/// A4 in points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 42.0;
/// Content stops above the footer.
const BOTTOM: f32 = 62.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;

const INK: Rgb = Rgb(0x1f, 0x29, 0x37);
const MUTED: Rgb = Rgb(0x5b, 0x64, 0x70);
const RULE: Rgb = Rgb(0xd6, 0xda, 0xe0);
const CARD: Rgb = Rgb(0xf4, 0xf6, 0xf8);
const SECOND: Rgb = Rgb(0x9a, 0xa3, 0xaf);
const WHITE: Rgb = Rgb(0xff, 0xff, 0xff);

/// A colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#1d4ed8` (or without `#`); `None` when it is not six hex digits.
    pub fn parse_hex(s: &str) -> Option<Rgb> {
        let h = s.trim().trim_start_matches('#');
        if h.len() != 6 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
        Some(Rgb(byte(0)?, byte(2)?, byte(4)?))
    }

    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    fn f(self) -> (f32, f32, f32) {
        (f32::from(self.0) / 255.0, f32::from(self.1) / 255.0, f32::from(self.2) / 255.0)
    }

    /// Relative luminance (WCAG), to pick white or dark text on it.
    fn luminance(self) -> f32 {
        let lin = |c: u8| {
            let c = f32::from(c) / 255.0;
            if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * lin(self.0) + 0.7152 * lin(self.1) + 0.0722 * lin(self.2)
    }

    /// The text colour readable on this one.
    fn on(self) -> Rgb {
        if self.luminance() > 0.45 { INK } else { WHITE }
    }
}

/// The default accent: a blue that white text reads on.
pub const DEFAULT_ACCENT: Rgb = Rgb(0x1d, 0x4e, 0xd8);

/// Whose report it is: the MSP's name, colour and footer line.
#[derive(Clone, Debug)]
pub struct Branding {
    pub name: String,
    pub accent: Rgb,
    /// Contact details or a note, on every page's foot.
    pub footer: Option<String>,
    /// Drawn at the left of the first page's header band.
    pub logo: Option<Logo>,
}

/// Whether a change or goal status is good news.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Good,
    Warning,
    Bad,
    Neutral,
}

impl Tone {
    fn colour(self) -> Rgb {
        match self {
            // WCAG AA on white for small text.
            Tone::Good => Rgb(0x15, 0x80, 0x3d),
            Tone::Warning => Rgb(0xa1, 0x62, 0x07),
            Tone::Bad => Rgb(0xb9, 0x1c, 0x1c),
            Tone::Neutral => MUTED,
        }
    }
}

/// One key figure.
#[derive(Clone, Debug)]
pub struct Figure {
    pub label: String,
    /// As shown: `42`, `12.25 h`, `96.5%`, `—` when not available.
    pub value: String,
    /// `+12% vs previous period`, with whether that is good.
    pub change: Option<(String, Tone)>,
    /// `Goal met (target 95%)`.
    pub goal: Option<(String, Tone)>,
}

/// A bar chart of one or two series over the same buckets.
#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    /// Bucket labels (`2 Nov`, `9 Nov` …).
    pub labels: Vec<String>,
    /// Each series' name and value per bucket (missing values draw no bar).
    pub series: Vec<(String, Vec<Option<f64>>)>,
    /// How the scale's top value is shown (`f64` → text, with the unit).
    pub scale_label: fn(f64) -> String,
}

/// A table; numeric columns are right-aligned.
#[derive(Clone, Debug)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
    /// Shown instead of rows when there are none.
    pub empty: String,
    /// The text columns' relative widths (empty: equal); numeric columns are fixed.
    pub weights: Vec<f32>,
}

/// What a report says, in the order it says it.
#[derive(Clone, Debug)]
pub struct Document {
    pub branding: Branding,
    /// `Client report`.
    pub kind: String,
    /// Who it is about (the company's name).
    pub subject: String,
    /// Lines under the subject: the period, when it was generated.
    pub lines: Vec<String>,
    pub figures: Vec<Figure>,
    pub charts: Vec<Chart>,
    pub tables: Vec<Table>,
    /// Small print at the end.
    pub notes: Vec<String>,
}

#[derive(Clone, Copy)]
enum Font {
    Regular,
    Bold,
}

impl Font {
    fn name(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"F1"),
            Font::Bold => Name(b"F2"),
        }
    }

    fn widths(self) -> &'static [u16; 256] {
        match self {
            Font::Regular => &fonts::HELVETICA,
            Font::Bold => &fonts::HELVETICA_BOLD,
        }
    }
}

/// A character's WinAnsiEncoding code; `?` for one outside it.
fn win_ansi(c: char) -> u8 {
    match c {
        ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
        '\t' | '\n' | '\r' => b' ',
        '€' => 128,
        '‚' => 130,
        'ƒ' => 131,
        '„' => 132,
        '…' => 133,
        '†' => 134,
        '‡' => 135,
        'ˆ' => 136,
        '‰' => 137,
        'Š' => 138,
        '‹' => 139,
        'Œ' => 140,
        'Ž' => 142,
        '‘' => 145,
        '’' => 146,
        '“' => 147,
        '”' => 148,
        '•' => 149,
        '–' => 150,
        '—' => 151,
        '˜' => 152,
        '™' => 153,
        'š' => 154,
        '›' => 155,
        'œ' => 156,
        'ž' => 158,
        'Ÿ' => 159,
        _ => b'?',
    }
}

/// `s` in WinAnsiEncoding.
pub(crate) fn encode(s: &str) -> Vec<u8> {
    s.chars().map(win_ansi).collect()
}

/// The width of `s` set in `font` at `size`, in points.
fn width(font: Font, size: f32, s: &str) -> f32 {
    let w = font.widths();
    let units: u32 = s.chars().map(|c| u32::from(w[usize::from(win_ansi(c))])).sum();
    units as f32 * size / 1000.0
}

/// `s`, cut with an ellipsis to fit `max` points.
fn fit(font: Font, size: f32, s: &str, max: f32) -> String {
    if width(font, size, s) <= max {
        return s.to_owned();
    }
    let ellipsis = width(font, size, "…");
    let mut out = String::new();
    let mut used = 0.0;
    for c in s.chars() {
        let w = width(font, size, c.encode_utf8(&mut [0; 4]));
        if used + w + ellipsis > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// The words of `s` in lines of at most `max` points.
fn wrap(font: Font, size: f32, s: &str, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
        if width(font, size, &candidate) <= max || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::take(&mut line));
            line = word.to_owned();
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.into_iter().map(|l| fit(font, size, &l, max)).collect()
}

/// Pages being written: the current one's content and the cursor's height on it.
struct Layout<'a> {
    doc: &'a Document,
    pages: Vec<Content>,
    y: f32,
}

impl<'a> Layout<'a> {
    fn new(doc: &'a Document) -> Self {
        let mut l = Layout { doc, pages: Vec::new(), y: 0.0 };
        l.first_page();
        l
    }

    fn page(&mut self) -> &mut Content {
        self.pages.last_mut().expect("a page is always open")
    }

    fn text(&mut self, font: Font, size: f32, x: f32, y: f32, colour: Rgb, s: &str) {
        let (r, g, b) = colour.f();
        let bytes = encode(s);
        let c = self.page();
        c.set_fill_rgb(r, g, b);
        c.begin_text();
        c.set_font(font.name(), size);
        c.next_line(x, y);
        c.show(Str(&bytes));
        c.end_text();
    }

    fn text_right(&mut self, font: Font, size: f32, right: f32, y: f32, colour: Rgb, s: &str) {
        let w = width(font, size, s);
        self.text(font, size, right - w, y, colour, s);
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, colour: Rgb) {
        let (r, g, b) = colour.f();
        let c = self.page();
        c.set_fill_rgb(r, g, b);
        c.rect(x, y, w, h);
        c.fill_nonzero();
    }

    fn rule(&mut self, x1: f32, x2: f32, y: f32, colour: Rgb, w: f32) {
        let (r, g, b) = colour.f();
        let c = self.page();
        c.set_stroke_rgb(r, g, b);
        c.set_line_width(w);
        c.move_to(x1, y);
        c.line_to(x2, y);
        c.stroke();
    }

    /// The first page: the branded band, the subject and its lines.
    fn first_page(&mut self) {
        self.pages.push(Content::new());
        let b = &self.doc.branding;
        let band = 78.0;
        self.rect(0.0, PAGE_H - band, PAGE_W, band, b.accent);
        let on = b.accent.on();
        let mut x = MARGIN;
        if let Some(logo) = &b.logo {
            let (w, h) = logo.size_for(44.0, 180.0);
            let y = PAGE_H - band + (band - h) / 2.0;
            let c = self.page();
            c.save_state();
            c.transform([w, 0.0, 0.0, h, MARGIN, y]);
            c.x_object(Name(LOGO));
            c.restore_state();
            x += w + 14.0;
        }
        let name = fit(Font::Bold, 18.0, &b.name, (CONTENT_W * 0.6 - (x - MARGIN)).max(60.0));
        self.text(Font::Bold, 18.0, x, PAGE_H - 46.0, on, &name);
        let kind = self.doc.kind.clone();
        self.text_right(Font::Regular, 11.0, PAGE_W - MARGIN, PAGE_H - 44.0, on, &kind);
        let mut y = PAGE_H - band - 36.0;
        for line in wrap(Font::Bold, 20.0, &self.doc.subject, CONTENT_W) {
            self.text(Font::Bold, 20.0, MARGIN, y, INK, &line);
            y -= 24.0;
        }
        y -= 2.0;
        for line in self.doc.lines.clone() {
            self.text(
                Font::Regular,
                10.0,
                MARGIN,
                y,
                MUTED,
                &fit(Font::Regular, 10.0, &line, CONTENT_W),
            );
            y -= 14.0;
        }
        self.y = y - 8.0;
    }

    /// A later page: a thin accent line with the branding and subject.
    fn next_page(&mut self) {
        self.pages.push(Content::new());
        let b = &self.doc.branding;
        self.rect(0.0, PAGE_H - 6.0, PAGE_W, 6.0, b.accent);
        let head = fit(Font::Bold, 9.0, &format!("{} · {}", b.name, self.doc.subject), CONTENT_W);
        self.text(Font::Bold, 9.0, MARGIN, PAGE_H - 28.0, MUTED, &head);
        self.y = PAGE_H - 48.0;
    }

    /// Room for `h` points, on a new page if this one has not got it.
    fn room(&mut self, h: f32) {
        if self.y - h < BOTTOM {
            self.next_page();
        }
    }

    fn heading(&mut self, title: &str) {
        self.y -= 10.0;
        let t = fit(Font::Bold, 12.0, title, CONTENT_W);
        self.text(Font::Bold, 12.0, MARGIN, self.y - 12.0, INK, &t);
        self.y -= 20.0;
    }

    fn figures(&mut self) {
        if self.doc.figures.is_empty() {
            return;
        }
        let cols = 3;
        let gap = 10.0;
        let w = (CONTENT_W - gap * (cols as f32 - 1.0)) / cols as f32;
        let h = 64.0;
        self.room(20.0 + h + gap);
        self.heading("Key figures");
        for row in self.doc.figures.clone().chunks(cols) {
            self.room(h + gap);
            let top = self.y;
            for (i, f) in row.iter().enumerate() {
                let x = MARGIN + i as f32 * (w + gap);
                self.rect(x, top - h, w, h, CARD);
                let pad = 9.0;
                let inner = w - 2.0 * pad;
                self.text(
                    Font::Regular,
                    8.5,
                    x + pad,
                    top - 15.0,
                    MUTED,
                    &fit(Font::Regular, 8.5, &f.label, inner),
                );
                self.text(
                    Font::Bold,
                    16.0,
                    x + pad,
                    top - 35.0,
                    INK,
                    &fit(Font::Bold, 16.0, &f.value, inner),
                );
                if let Some((t, tone)) = &f.change {
                    self.text(
                        Font::Regular,
                        8.0,
                        x + pad,
                        top - 48.0,
                        tone.colour(),
                        &fit(Font::Regular, 8.0, t, inner),
                    );
                }
                if let Some((t, tone)) = &f.goal {
                    self.text(
                        Font::Bold,
                        8.0,
                        x + pad,
                        top - 59.0,
                        tone.colour(),
                        &fit(Font::Bold, 8.0, t, inner),
                    );
                }
            }
            self.y = top - h - gap;
        }
    }

    fn chart(&mut self, chart: &Chart) {
        let nothing = !chart
            .series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten())
            .any(|v| v.is_finite() && *v > 0.0);
        if nothing {
            // No bars to draw: say so in a line instead of an empty plot.
            self.room(20.0 + 16.0);
            self.heading(&chart.title);
            self.text(Font::Regular, 9.0, MARGIN, self.y - 10.0, MUTED, "Nothing in this period.");
            self.y -= 20.0;
            return;
        }
        let plot_h = 110.0;
        let total = 20.0 + 14.0 + plot_h + 30.0;
        self.room(total);
        self.heading(&chart.title);
        // Legend.
        let palette = [self.doc.branding.accent, SECOND];
        let mut lx = MARGIN;
        for (i, (name, _)) in chart.series.iter().enumerate() {
            let colour = palette[i % palette.len()];
            self.rect(lx, self.y - 9.0, 8.0, 8.0, colour);
            self.text(Font::Regular, 8.5, lx + 12.0, self.y - 8.5, MUTED, name);
            lx += 24.0 + width(Font::Regular, 8.5, name);
        }
        self.y -= 16.0;
        let max = chart
            .series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten())
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        let axis_w = 44.0;
        let left = MARGIN + axis_w;
        let plot_w = CONTENT_W - axis_w;
        let base = self.y - plot_h;
        let top_label = (chart.scale_label)(max);
        self.text_right(Font::Regular, 7.5, left - 6.0, self.y - 7.0, MUTED, &top_label);
        self.text_right(Font::Regular, 7.5, left - 6.0, base, MUTED, &(chart.scale_label)(0.0));
        self.rule(left, left + plot_w, self.y - 4.0, RULE, 0.5);
        self.rule(left, left + plot_w, base, MUTED, 0.8);
        let n = chart.labels.len().max(1);
        let slot = plot_w / n as f32;
        let series = chart.series.len().max(1);
        let bar_w = (slot * 0.7 / series as f32).min(18.0);
        for (i, label) in chart.labels.iter().enumerate() {
            let x0 = left + i as f32 * slot + (slot - bar_w * series as f32) / 2.0;
            for (s, (_, values)) in chart.series.iter().enumerate() {
                let Some(v) = values.get(i).copied().flatten().filter(|v| v.is_finite()) else {
                    continue;
                };
                if max > 0.0 && v > 0.0 {
                    let h = ((v / max) as f32 * (plot_h - 4.0)).max(0.5);
                    self.rect(
                        x0 + s as f32 * bar_w,
                        base,
                        bar_w - 1.0,
                        h,
                        palette[s % palette.len()],
                    );
                }
            }
            // Every label when they fit, else every k-th.
            let every =
                ((width(Font::Regular, 7.0, "00 Mmm") + 4.0) / slot).ceil().max(1.0) as usize;
            if i % every == 0 {
                let l = fit(Font::Regular, 7.0, label, slot * every as f32 - 2.0);
                let w = width(Font::Regular, 7.0, &l);
                let cx = left + i as f32 * slot + slot / 2.0;
                self.text(Font::Regular, 7.0, cx - w / 2.0, base - 11.0, MUTED, &l);
            }
        }
        self.y = base - 22.0;
    }

    fn table(&mut self, table: &Table) {
        let row_h = 15.0;
        self.room(20.0 + row_h * 2.0 + 6.0);
        self.heading(&table.title);
        let cols = table.headers.len().max(1);
        let num_w = 78.0;
        let numeric = |i: usize| table.numeric.get(i).copied().unwrap_or(false);
        let n_numeric = (0..cols).filter(|i| numeric(*i)).count();
        let weight = |i: usize| table.weights.get(i).copied().filter(|w| *w > 0.0).unwrap_or(1.0);
        let text_weight: f32 = (0..cols).filter(|i| !numeric(*i)).map(weight).sum();
        let text_room = CONTENT_W - num_w * n_numeric as f32;
        let widths: Vec<f32> = (0..cols)
            .map(|i| if numeric(i) { num_w } else { text_room * weight(i) / text_weight.max(0.01) })
            .collect();
        let header = |l: &mut Layout<'_>| {
            let mut x = MARGIN;
            for (i, h) in table.headers.iter().enumerate() {
                let t = fit(Font::Bold, 8.5, h, widths[i] - 6.0);
                if numeric(i) {
                    l.text_right(Font::Bold, 8.5, x + widths[i], l.y - 10.0, MUTED, &t);
                } else {
                    l.text(Font::Bold, 8.5, x, l.y - 10.0, MUTED, &t);
                }
                x += widths[i];
            }
            l.rule(MARGIN, MARGIN + CONTENT_W, l.y - 14.0, MUTED, 0.6);
            l.y -= row_h + 2.0;
        };
        header(self);
        if table.rows.is_empty() {
            let e = fit(Font::Regular, 9.0, &table.empty, CONTENT_W);
            self.text(Font::Regular, 9.0, MARGIN, self.y - 10.0, MUTED, &e);
            self.y -= row_h;
        }
        for row in &table.rows {
            if self.y - row_h < BOTTOM {
                self.next_page();
                self.heading(&format!("{} (continued)", table.title));
                header(self);
            }
            let mut x = MARGIN;
            for (i, cell) in row.iter().take(cols).enumerate() {
                let t = fit(Font::Regular, 9.0, cell, widths[i] - 6.0);
                if numeric(i) {
                    self.text_right(Font::Regular, 9.0, x + widths[i], self.y - 10.0, INK, &t);
                } else {
                    self.text(Font::Regular, 9.0, x, self.y - 10.0, INK, &t);
                }
                x += widths[i];
            }
            self.rule(MARGIN, MARGIN + CONTENT_W, self.y - 14.0, RULE, 0.4);
            self.y -= row_h;
        }
        self.y -= 6.0;
    }

    fn notes(&mut self) {
        if self.doc.notes.is_empty() {
            return;
        }
        self.y -= 8.0;
        for note in self.doc.notes.clone() {
            for line in wrap(Font::Regular, 8.0, &note, CONTENT_W) {
                self.room(11.0);
                self.text(Font::Regular, 8.0, MARGIN, self.y - 8.0, MUTED, &line);
                self.y -= 11.0;
            }
        }
    }

    /// Every page's foot: the footer line and `Page n of m`.
    fn footers(&mut self) {
        let total = self.pages.len();
        let footer = self.doc.branding.footer.clone().unwrap_or_default();
        for i in 0..total {
            let number = format!("Page {} of {total}", i + 1);
            // Write into page i: swap it to the end, write, swap back.
            let last = self.pages.len() - 1;
            self.pages.swap(i, last);
            self.rule(MARGIN, PAGE_W - MARGIN, 44.0, RULE, 0.5);
            let nw = width(Font::Regular, 8.0, &number);
            let f = fit(Font::Regular, 8.0, &footer, CONTENT_W - nw - 16.0);
            self.text(Font::Regular, 8.0, MARGIN, 30.0, MUTED, &f);
            self.text_right(Font::Regular, 8.0, PAGE_W - MARGIN, 30.0, MUTED, &number);
            self.pages.swap(i, last);
        }
    }
}

/// The logo's resource name.
const LOGO: &[u8] = b"Im1";

/// Writes the logo's image (and its transparency) as `id` (and `id + 1`).
fn write_logo(pdf: &mut Pdf, id: Ref, logo: &Logo) {
    let (w, h) = (i32::try_from(logo.width).unwrap_or(1), i32::try_from(logo.height).unwrap_or(1));
    match &logo.image {
        Image::Jpeg { bytes, components } => {
            let mut img = pdf.image_xobject(id, bytes);
            img.filter(Filter::DctDecode);
            img.width(w).height(h).bits_per_component(8);
            img.color_space_name(Name(if *components == 1 { b"DeviceGray" } else { b"DeviceRGB" }));
        }
        Image::Flate { samples, rgb, alpha } => {
            let mask = Ref::new(id.get() + 1);
            let mut img = pdf.image_xobject(id, samples);
            img.filter(Filter::FlateDecode);
            img.width(w).height(h).bits_per_component(8);
            img.color_space_name(Name(if *rgb { b"DeviceRGB" } else { b"DeviceGray" }));
            if alpha.is_some() {
                img.s_mask(mask);
            }
            img.finish();
            if let Some(a) = alpha {
                let mut m = pdf.image_xobject(mask, a);
                m.filter(Filter::FlateDecode);
                m.width(w).height(h).bits_per_component(8);
                m.color_space_name(Name(b"DeviceGray"));
            }
        }
    }
}

/// The document as a PDF file.
pub fn render(doc: &Document) -> Vec<u8> {
    let mut layout = Layout::new(doc);
    layout.figures();
    for chart in &doc.charts {
        layout.chart(chart);
    }
    for table in &doc.tables {
        layout.table(table);
    }
    layout.notes();
    layout.footers();

    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first = 6;
    let page_ids: Vec<Ref> =
        (0..layout.pages.len()).map(|i| Ref::new(first + 2 * i as i32)).collect();
    let logo_id = Ref::new(first + 2 * page_ids.len() as i32);
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(page_ids.len() as i32);
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    let title = format!("{} · {}", doc.kind, doc.subject);
    pdf.document_info(info)
        .title(TextStr(&title))
        .author(TextStr(&doc.branding.name))
        .subject(TextStr(&doc.lines.join("; ")))
        .creator(TextStr("AVESA"));
    for (i, content) in layout.pages.into_iter().enumerate() {
        let page_id = page_ids[i];
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(content_id);
        let mut resources = page.resources();
        resources.fonts().pair(Font::Regular.name(), regular).pair(Font::Bold.name(), bold);
        if i == 0 && doc.branding.logo.is_some() {
            resources.x_objects().pair(Name(LOGO), logo_id);
        }
        resources.finish();
        page.finish();
        let data = content.finish();
        pdf.stream(content_id, &data);
    }
    if let Some(logo) = &doc.branding.logo {
        write_logo(&mut pdf, logo_id, logo);
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(label: &str, v: f64) -> Figure {
        Figure {
            label: label.into(),
            value: format!("{v}"),
            change: Some(("+10% vs previous period".into(), Tone::Good)),
            goal: Some(("Goal missed (target 95%)".into(), Tone::Bad)),
        }
    }

    fn doc(rows: usize) -> Document {
        Document {
            branding: Branding {
                name: "Acme MSP".into(),
                accent: Rgb::parse_hex("#0f766e").unwrap(),
                footer: Some("Questions? help@acme.example · +1 555 0100".into()),
                logo: None,
            },
            kind: "Client report".into(),
            subject: "Contoso Ltd — Café Zürich".into(),
            lines: vec!["1 Nov 2026 – 1 Dec 2026 (last month, Europe/Amsterdam)".into()],
            figures: (0..7).map(|i| count(&format!("Figure {i}"), f64::from(i))).collect(),
            charts: vec![Chart {
                title: "Tickets opened and closed".into(),
                labels: (1..=5).map(|w| format!("{w} Nov")).collect(),
                series: vec![
                    ("Opened".into(), vec![Some(3.0), Some(5.0), None, Some(0.0), Some(9.0)]),
                    ("Closed".into(), vec![Some(2.0), Some(6.0), Some(1.0), Some(4.0), Some(8.0)]),
                ],
                scale_label: |v| format!("{v:.0}"),
            }],
            tables: vec![Table {
                title: "Tickets".into(),
                headers: vec!["Ticket".into(), "Summary".into(), "Hours".into()],
                numeric: vec![false, false, true],
                rows: (0..rows)
                    .map(|i| {
                        vec![format!("#{}", 1000 + i), format!("Row number {i}"), "1.25".into()]
                    })
                    .collect(),
                empty: "No tickets.".into(),
                weights: vec![1.0, 3.0],
            }],
            notes: vec!["SLA figures count only tickets whose source records an SLA.".into()],
        }
    }

    /// The text shown on every page, decoded back from WinAnsiEncoding.
    fn page_texts(bytes: &[u8]) -> Vec<String> {
        let pdf = lopdf::Document::load_mem(bytes).expect("a well-formed PDF");
        let mut out = Vec::new();
        for (_, page) in pdf.get_pages() {
            let content = pdf.get_and_decode_page_content(page).expect("page content");
            let mut text = String::new();
            for op in content.operations {
                if op.operator == "Tj"
                    && let Some(lopdf::Object::String(s, _)) = op.operands.first()
                {
                    // WinAnsi is Latin-1 outside 128..160.
                    text.extend(s.iter().map(|b| char::from(*b)));
                    text.push('\n');
                }
            }
            out.push(text);
        }
        out
    }

    #[test]
    fn a_report_is_a_pdf_with_its_text_on_it() {
        let bytes = render(&doc(3));
        assert!(bytes.starts_with(b"%PDF-"));
        let pages = page_texts(&bytes);
        assert_eq!(pages.len(), 1);
        let t = &pages[0];
        for s in [
            "Acme MSP",
            "Client report",
            "Key figures",
            "Figure 6",
            "Tickets opened and closed",
            "#1002",
            "Page 1 of 1",
        ] {
            assert!(t.contains(s), "{s:?} missing from {t}");
        }
        // Latin-1 text survives (é, ü); the dash outside Latin-1 is WinAnsi's 151.
        assert!(t.contains("Caf\u{e9} Z\u{fc}rich"), "{t}");
        assert!(encode("—").as_slice() == [151]);
    }

    #[test]
    fn long_tables_flow_onto_more_pages_with_their_heading_repeated() {
        let pages = page_texts(&render(&doc(120)));
        assert!(pages.len() >= 3, "{} pages", pages.len());
        assert!(pages[1].contains("Tickets (continued)"));
        let last = pages.last().unwrap();
        assert!(last.contains(&format!("Page {n} of {n}", n = pages.len())));
        assert!(last.contains("#1119"), "the last row is on the last page");
        assert!(last.contains("SLA figures count only"));
        // Every row once.
        let all: String = pages.concat();
        for i in [0, 57, 119] {
            assert_eq!(all.matches(&format!("#{}\n", 1000 + i)).count(), 1);
        }
    }

    #[test]
    fn text_is_fitted_and_encoded() {
        let long = "x".repeat(500);
        let f = fit(Font::Regular, 10.0, &long, 100.0);
        assert!(width(Font::Regular, 10.0, &f) <= 100.0);
        assert!(f.ends_with('…'));
        assert_eq!(fit(Font::Bold, 10.0, "short", 100.0), "short");
        assert_eq!(encode("a€✓"), vec![b'a', 128, b'?']);
        // Helvetica: "Hello" is 722+556+222+222+556 thousandths.
        assert!((width(Font::Regular, 10.0, "Hello") - 22.78).abs() < 0.01);
        let lines = wrap(Font::Regular, 10.0, "one two three four five six seven", 60.0);
        assert!(lines.len() > 1 && lines.iter().all(|l| width(Font::Regular, 10.0, l) <= 60.0));
    }

    #[test]
    fn colours_parse_and_text_on_them_reads() {
        assert_eq!(Rgb::parse_hex("#1d4ed8"), Some(Rgb(0x1d, 0x4e, 0xd8)));
        assert_eq!(Rgb::parse_hex("FFFFFF"), Some(WHITE));
        assert_eq!(Rgb::parse_hex("#fff"), None);
        assert_eq!(Rgb::parse_hex("#gggggg"), None);
        assert_eq!(DEFAULT_ACCENT.on(), WHITE);
        assert_eq!(Rgb(0xfa, 0xcc, 0x15).on(), INK);
        assert_eq!(Rgb(0x0f, 0x76, 0x6e).hex(), "#0f766e");
    }

    #[test]
    fn a_logo_is_drawn_in_the_header_band() {
        let mut d = doc(3);
        let png = crate::logo::tests::png_bytes(120, 40);
        d.branding.logo = Some(Logo::from_bytes(&png).unwrap());
        let bytes = render(&d);
        let pdf = lopdf::Document::load_mem(&bytes).expect("a well-formed PDF");
        let (_, first) = pdf.get_pages().into_iter().next().unwrap();
        let content = pdf.get_and_decode_page_content(first).unwrap();
        assert!(content.operations.iter().any(|op| op.operator == "Do"), "the logo is drawn");
        // The image and its transparency mask, deflated.
        let images: Vec<_> = pdf
            .objects
            .values()
            .filter_map(|o| o.as_stream().ok())
            .filter(|s| {
                s.dict.get(b"Subtype").and_then(|v| v.as_name()).ok() == Some(&b"Image"[..])
            })
            .collect();
        assert_eq!(images.len(), 2);
        assert!(images.iter().any(|s| s.dict.get(b"SMask").is_ok()));
        assert!(page_texts(&bytes)[0].contains("Acme MSP"));
    }

    #[test]
    fn an_empty_report_still_renders() {
        let mut d = doc(0);
        d.figures.clear();
        d.charts[0].series.iter_mut().for_each(|(_, v)| v.iter_mut().for_each(|x| *x = None));
        let pages = page_texts(&render(&d));
        assert!(pages[0].contains("No tickets."));
        // A chart with nothing to draw says so.
        assert!(
            pages[0].contains("Tickets opened and closed\nNothing in this period."),
            "{}",
            pages[0]
        );
    }
}
