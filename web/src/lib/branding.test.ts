import { describe, expect, it } from "vitest";
import { brandingChanges, logoProblem, normaliseAccent, type Branding } from "./branding";

const before: Branding = { name: "Acme", accent: "#1d4ed8", footer: null, reply_to: "help@acme.example", logo: null };

describe("branding", () => {
  it("checks logo files before upload", () => {
    expect(logoProblem({ type: "image/png", size: 1000 })).toBeNull();
    expect(logoProblem({ type: "image/jpeg", size: 256 * 1024 })).toBeNull();
    expect(logoProblem({ type: "image/gif", size: 10 })).toMatch(/PNG or JPEG/);
    expect(logoProblem({ type: "image/png", size: 300 * 1024 })).toMatch(/300 KiB; at most 256/);
  });

  it("normalises colours", () => {
    expect(normaliseAccent("#0F766E")).toBe("#0f766e");
    expect(normaliseAccent("0f766e")).toBe("#0f766e");
    expect(normaliseAccent("teal")).toBeNull();
    expect(normaliseAccent("#fff")).toBeNull();
  });

  it("sends only what changed, and empty strings to reset", () => {
    expect(brandingChanges(before, { name: "Acme", accent: "#1D4ED8", footer: "", reply_to: "help@acme.example", logo: null })).toEqual({});
    expect(
      brandingChanges(before, { name: " Acme MSP ", accent: "#0f766e", footer: "Call us", reply_to: "", logo: "data:image/png;base64,AAAA" }),
    ).toEqual({ name: "Acme MSP", accent: "#0f766e", footer: "Call us", reply_to: "", logo: "data:image/png;base64,AAAA" });
    expect(brandingChanges({ ...before, logo: "data:x" }, { name: "Acme", accent: "#1d4ed8", footer: "", reply_to: "help@acme.example", logo: null })).toEqual({ logo: "" });
    // A bad colour goes as typed: the server names the field.
    expect(brandingChanges(before, { name: "Acme", accent: "teal", footer: "", reply_to: "help@acme.example", logo: null })).toEqual({ accent: "teal" });
  });
});
