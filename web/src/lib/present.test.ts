import { describe, expect, it } from "vitest";
import {
  DEFAULT_ROTATE_SECONDS,
  SLIDES,
  dashboardSearch,
  keyCommand,
  presentSearch,
  presentSizes,
  rotateSeconds,
  refreshMs,
  REFRESH_MS,
  slideCards,
  slideReducer,
  type SlideState,
} from "./present";

describe("refreshMs", () => {
  it("reads ?refresh= in seconds, at least 10, at most an hour, a minute otherwise", () => {
    expect(refreshMs(null)).toBe(REFRESH_MS);
    expect(refreshMs("")).toBe(REFRESH_MS);
    expect(refreshMs("soon")).toBe(REFRESH_MS);
    expect(refreshMs("-5")).toBe(REFRESH_MS);
    expect(refreshMs("30")).toBe(30_000);
    expect(refreshMs("1")).toBe(10_000);
    expect(refreshMs("99999")).toBe(3_600_000);
  });
});

describe("rotateSeconds", () => {
  it("defaults to 20 seconds", () => {
    expect(rotateSeconds(null)).toBe(DEFAULT_ROTATE_SECONDS);
    expect(rotateSeconds("")).toBe(20);
    expect(rotateSeconds("soon")).toBe(20);
    expect(rotateSeconds("-5")).toBe(20);
  });
  it("takes seconds, within 2 s and an hour", () => {
    expect(rotateSeconds("2")).toBe(2);
    expect(rotateSeconds("7.5")).toBe(7.5);
    expect(rotateSeconds("1")).toBe(2);
    expect(rotateSeconds("99999")).toBe(3600);
  });
  it("keeps the slide for 0 or off", () => {
    expect(rotateSeconds("0")).toBe(0);
    expect(rotateSeconds("off")).toBe(0);
  });
});

describe("slideReducer", () => {
  const r = slideReducer(3);
  const s = (index: number, paused = false): SlideState => ({ index, paused });
  it("moves on each tick and wraps around", () => {
    expect(r(s(0), { type: "tick" })).toEqual(s(1));
    expect(r(s(2), { type: "tick" })).toEqual(s(0));
  });
  it("does not move on a tick while paused, but arrows still move", () => {
    expect(r(s(1, true), { type: "tick" })).toEqual(s(1, true));
    expect(r(s(1, true), { type: "next" })).toEqual(s(2, true));
    expect(r(s(0, true), { type: "prev" })).toEqual(s(2, true));
  });
  it("pauses, resumes and toggles", () => {
    expect(r(s(1), { type: "toggle" })).toEqual(s(1, true));
    expect(r(s(1, true), { type: "toggle" })).toEqual(s(1));
    const paused = s(1, true);
    expect(r(paused, { type: "pause" })).toBe(paused);
    expect(r(paused, { type: "resume" })).toEqual(s(1));
  });
  it("goes to a slide by number, wrapped into range", () => {
    expect(r(s(0), { type: "goto", index: 2 })).toEqual(s(2));
    expect(r(s(0), { type: "goto", index: -1 })).toEqual(s(2));
    expect(slideReducer(0)(s(0), { type: "next" })).toEqual(s(0));
  });
});

describe("keyCommand", () => {
  const k = (key: string, mods: { ctrlKey?: boolean } = {}) => keyCommand({ key, ...mods }, 3);
  it("pauses on space, moves on arrows, leaves on Escape", () => {
    expect(k(" ")).toEqual({ type: "toggle" });
    expect(k("p")).toEqual({ type: "toggle" });
    expect(k("ArrowRight")).toEqual({ type: "next" });
    expect(k("ArrowLeft")).toEqual({ type: "prev" });
    expect(k("PageDown")).toEqual({ type: "next" });
    expect(k("End")).toEqual({ type: "goto", index: 2 });
    expect(k("2")).toEqual({ type: "goto", index: 1 });
    expect(k("f")).toEqual({ type: "fullscreen" });
    expect(k("Escape")).toEqual({ type: "exit" });
  });
  it("leaves other keys and shortcuts alone", () => {
    expect(k("4")).toBeNull();
    expect(k("a")).toBeNull();
    expect(k("ArrowRight", { ctrlKey: true })).toBeNull();
    expect(k("r", { ctrlKey: true })).toBeNull();
  });
});

describe("URLs", () => {
  it("opens present mode with the dashboard's period and filters", () => {
    const d = new URLSearchParams("period=custom&from=2026-10-01&to=2026-10-31&board=Help%20Desk&member=connectwise%3A7&page=2");
    expect(presentSearch(d)).toBe("period=custom&from=2026-10-01&to=2026-10-31&board=Help+Desk&member=connectwise%3A7");
    expect(presentSearch(new URLSearchParams(""), 2)).toBe("rotate=2");
  });
  it("returns to the same dashboard view", () => {
    expect(dashboardSearch(new URLSearchParams("period=90d&rotate=5&status=New"))).toBe("period=90d&status=New");
  });
});

describe("slides", () => {
  it("show every dashboard card once", () => {
    const cards = slideCards();
    expect(new Set(cards).size).toBe(cards.length);
    expect(cards).toHaveLength(12);
    expect(SLIDES.length).toBeGreaterThanOrEqual(2);
    for (const s of SLIDES) expect(s.charts.length).toBeGreaterThan(0);
  });
  it("size chart text to at least 2% of the screen's height", () => {
    for (const [w, h] of [
      [1920, 1080],
      [3840, 2160],
    ]) {
      const z = presentSizes(w, h);
      expect(z.font).toBeGreaterThanOrEqual(0.02 * h);
      expect(z.categoryWidth).toBeGreaterThan(z.font * 6);
    }
    // 4K is 1080p doubled, not the same pixels on a screen twice as dense.
    expect(Math.abs(presentSizes(3840, 2160).font - 2 * presentSizes(1920, 1080).font)).toBeLessThanOrEqual(1);
  });
});
