import { describe, expect, it } from "vitest";
import { attachment, image } from "../test/fixtures";
import {
  filesLine,
  formatBytes,
  isImage,
  pastedFiles,
  pastedName,
  percent,
  previewBox,
  progressOf,
  readBase64,
  saveAsName,
  showsInline,
  typeLabel,
  withFiles,
} from "./files";

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [1, "1 B"],
    [1023, "1023 B"],
    [1024, "1.0 KB"],
    [1536, "1.5 KB"],
    [10 * 1024 - 60, "9.9 KB"],
    [10 * 1024 - 20, "10 KB"],
    [48_213, "47 KB"],
    [999 * 1024, "999 KB"],
    [1_048_000, "1.0 MB"],
    [1024 * 1024, "1.0 MB"],
    [2_400_000, "2.3 MB"],
    [350 * 1024 * 1024, "350 MB"],
    [5 * 1024 ** 3, "5.0 GB"],
    [3 * 1024 ** 4, "3.0 TB"],
  ])("says %d bytes as %s", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe("which files show inline", () => {
  it("are images with a preview; other images and files are cards", () => {
    expect(isImage({ content_type: "image/png" })).toBe(true);
    expect(isImage({ content_type: "IMAGE/JPEG" })).toBe(true);
    expect(isImage({ content_type: "application/pdf" })).toBe(false);
    expect(showsInline(image())).toBe(true);
    expect(showsInline(image({ has_preview: false }))).toBe(false);
    // A preview of something that is not an image (never sent by the core) is not trusted.
    expect(showsInline(attachment({ has_preview: true }))).toBe(false);
  });

  it("take the image's proportions within 320 × 320, never enlarged", () => {
    expect(previewBox({ width: 1600, height: 1200 })).toEqual({ width: 320, height: 240 });
    expect(previewBox({ width: 1000, height: 4000 })).toEqual({ width: 80, height: 320 });
    expect(previewBox({ width: 200, height: 100 })).toEqual({ width: 200, height: 100 });
    expect(previewBox({ width: 5000, height: 3 })).toEqual({ width: 320, height: 1 });
    expect(previewBox({ width: 640, height: 480 }, 160)).toEqual({ width: 160, height: 120 });
  });

  it("take a 4:3 box when the size is unknown", () => {
    expect(previewBox({ width: null, height: null })).toEqual({ width: 240, height: 180 });
    expect(previewBox({ width: 0, height: 100 })).toEqual({ width: 240, height: 180 });
  });
});

describe("typeLabel", () => {
  it("is the extension, or FILE", () => {
    expect(typeLabel("report.pdf")).toBe("PDF");
    expect(typeLabel("backup.tar.gz")).toBe("GZ");
    expect(typeLabel("Notes.Markdown")).toBe("FILE");
    expect(typeLabel("README")).toBe("FILE");
    expect(typeLabel(".bashrc")).toBe("FILE");
    expect(typeLabel("photo.jpeg")).toBe("JPEG");
  });
});

describe("upload progress", () => {
  const going = attachment({ size: 1000, uploaded: 250, id: null });

  it("shows only while the message is pending and the file is going out", () => {
    expect(progressOf(going, "pending")).toEqual({ sent: 250, total: 1000 });
    expect(progressOf(going, "failed")).toBeNull();
    expect(progressOf({ ...going, uploaded: null }, "pending")).toBeNull();
    expect(progressOf({ ...going, uploaded: null }, "sent")).toBeNull();
  });

  it("takes the latest progress event over the message's own count, within bounds", () => {
    expect(progressOf(going, "pending", { sent: 600, total: 1000 })).toEqual({ sent: 600, total: 1000 });
    expect(progressOf(going, "pending", { sent: 1200, total: 1000 })).toEqual({ sent: 1000, total: 1000 });
  });

  it("is said in whole percent", () => {
    expect(percent({ sent: 0, total: 1000 })).toBe(0);
    expect(percent({ sent: 999, total: 1000 })).toBe(99);
    expect(percent({ sent: 1000, total: 1000 })).toBe(100);
    expect(percent({ sent: 0, total: 0 })).toBe(100);
  });
});

describe("a message of files on one line", () => {
  it("names its one file, or counts photos or files", () => {
    expect(filesLine([])).toBe("");
    expect(filesLine([attachment()])).toBe("report.pdf");
    expect(filesLine([image(), image({ index: 1 })])).toBe("2 photos");
    expect(filesLine([image(), attachment({ index: 1 }), image({ index: 2 })])).toBe("3 files");
  });

  it("is the caption after a paperclip, or what the files are; text alone stays as it is", () => {
    expect(withFiles("the minutes", [attachment()])).toBe("📎 the minutes");
    expect(withFiles("", [attachment()])).toBe("📎 report.pdf");
    expect(withFiles("just text", [])).toBe("just text");
    expect(withFiles("just text", undefined)).toBe("just text");
  });
});

describe("pasting", () => {
  const png = new File([new Uint8Array([137, 80, 78, 71])], "image.png", { type: "image/png" });

  it("sends the clipboard's files, unless it also holds text (which pastes as before)", () => {
    expect(pastedFiles({ files: [png], types: ["Files"] })).toEqual([png]);
    expect(pastedFiles({ files: [png], types: ["text/html", "Files"] })).toEqual([png]);
    // An office program's copy: the text and a picture of it.
    expect(pastedFiles({ files: [png], types: ["text/plain", "Files"] })).toEqual([]);
    expect(pastedFiles({ files: [], types: ["text/plain"] })).toEqual([]);
    expect(pastedFiles(null)).toEqual([]);
  });

  it("names an unnamed picture after its type", () => {
    expect(pastedName({ name: "screenshot.png", type: "image/png" })).toBe("screenshot.png");
    expect(pastedName({ name: "", type: "image/png" })).toBe("Pasted image.png");
    expect(pastedName({ name: " ", type: "image/jpeg" })).toBe("Pasted image.jpg");
    expect(pastedName({ name: "", type: "image/svg+xml" })).toBe("Pasted image.svg");
    expect(pastedName({ name: "", type: "application/octet-stream" })).toBe("Pasted file");
    expect(pastedName({ name: "", type: "image/../../x" })).toBe("Pasted file");
  });

  it("reads a file's bytes as base64", async () => {
    expect(await readBase64(png)).toBe("iVBORw==");
    expect(await readBase64(new File([], "empty.txt"))).toBe("");
    const text = new File(["héllo"], "a.txt", { type: "text/plain" });
    expect(atob(await readBase64(text))).toBe(String.fromCharCode(...new TextEncoder().encode("héllo")));
  });
});

describe("saveAsName", () => {
  it.each([
    ["minutes.pdf", "minutes.pdf"],
    [".config/autostart/evil.desktop", "evil.desktop"],
    ["../../.bashrc", "bashrc"],
    ["/home/alice/.ssh/authorized_keys", "authorized_keys"],
    ["C:\\Users\\alice\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\x.lnk", "x.lnk"],
    ["C:x.lnk", "C_x.lnk"],
    ["invoice\u202Egnp.exe", "invoicegnp.exe"],
    ["evil.exe. .", "evil.exe"],
    ['a<b>:"c"|?*.txt', "a_b___c____.txt"],
    ["..", "file"],
    ["", "file"],
  ])("%j is proposed as %j", (name, proposed) => {
    expect(saveAsName(name)).toBe(proposed);
  });
});
