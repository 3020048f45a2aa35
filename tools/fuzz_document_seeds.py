#!/usr/bin/env python3
"""Seeds for the `document` fuzz target (a dev tool; see docs/robustness.md).

Writes small hand-made PDFs and TIFFs, each behind a script prefix (the case's input layout:
u16 little-endian script length, the script, then the document), to the folder given
(default fuzz/corpus/document). Standard library only; with Pillow importable it adds a
DCTDecode (JPEG) PDF and a PNG.

    python3 tools/fuzz_document_seeds.py [OUT_DIR]
"""

import io
import os
import struct
import sys
import zlib

# Scripts: none (all zeros past the end), one with awkward text and coordinates, one with
# plain boxes. Bytes as the case reads them (see crates/document/tests/cases/document.rs).
SCRIPTS = [
    b"",
    bytes([
        2, 0, 0,  # page size as the image, rotation 0
        3,  # 3 lines
        5, 0x80, 0x81, 0x01, 0x8B, 0xA1,  # line text: & < \x01 U+FFFE '\r'
        200, 0,  # confidence, axis-aligned quad:
        20, 9, 30, 9, 200, 200, 60, 40, 0,  # ..., orientation upright
        3,  # 3 words
        4, 0x85, 0x86, 0x87, 0x3C, 0, 10, 10, 10, 10, 200, 100, 40, 100, 230, 2,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1,
        3, 0x61, 0x62, 0x63, 1, 3, 1, 4, 2, 5, 6, 7, 8, 1, 2, 3, 4, 9, 9, 9, 9, 50, 0,
        1, 0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0,
        1, 2, 3,  # 3 blocks with ranges past the last line
        1, 0, 5, 9, 9, 9, 9, 9, 9, 9, 9,
    ]),
    bytes([2, 0, 0, 1, 2, 0x41, 0x42, 128, 0, 20, 20, 20, 20, 220, 220, 200, 200, 0, 2,
           1, 0x41, 128, 0, 20, 20, 20, 20, 120, 120, 200, 200, 128, 0,
           1, 0x42, 128, 0, 140, 20, 20, 20, 220, 220, 200, 200, 128, 0, 1, 0, 0, 1]),
]


def pdf(objects, trailer_extra=b"", cut=None):
    """A PDF from numbered object bodies (1-based), with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for o in offsets:
        out.write(b"%010d 00000 n \n" % o)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R " % (len(objects) + 1) + trailer_extra + b">>\n")
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    data = out.getvalue()
    return data[:cut] if cut else data


def stream(dict_body, data):
    return b"<< " + dict_body + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def image_pdf(image_dict, data, pages=1, rotate=0, cm=b"144 0 0 144 0 0", extra_content=b"",
              trailer_extra=b""):
    """Pages that each draw one image XObject (object 3) over a 144x144 pt page."""
    kids = b" ".join(b"%d 0 R" % (5 + 2 * k) for k in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        stream(b"/Type /XObject /Subtype /Image " + image_dict, data),
        None,
    ]
    content = b"q " + cm + b" cm /Im0 Do Q" + extra_content
    objects[3] = stream(b"", content)
    for _ in range(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 144 144] /Rotate %d "
                       b"/Resources << /XObject << /Im0 3 0 R >> >> /Contents 4 0 R >>" % rotate)
        objects.append(b"null")
    return pdf(objects, trailer_extra)


def gray(w, h):
    return bytes((x * 37 + y * 11) % 256 for y in range(h) for x in range(w))


def tiff(pages):
    """Little-endian TIFF, one uncompressed strip per page: pages = [(w, h, spp, bps, data)]."""
    out = bytearray(b"II*\0\0\0\0\0")
    ifd_at = []
    for (w, h, spp, bps, data) in pages:
        data_at = len(out)
        out += data
        if len(out) % 2:
            out += b"\0"
        bps_at = len(out)
        out += struct.pack("<%dH" % spp, *([bps] * spp))
        if len(out) % 2:
            out += b"\0"
        entries = [
            (256, 4, 1, w), (257, 4, 1, h),
            (258, 3, spp, bps if spp == 1 else bps_at),
            (259, 3, 1, 1), (262, 3, 1, 2 if spp >= 3 else 1),
            (273, 4, 1, data_at), (277, 3, 1, spp), (278, 4, 1, h), (279, 4, 1, len(data)),
        ]
        ifd_at.append(len(out))
        out += struct.pack("<H", len(entries))
        for tag, typ, count, value in entries:
            if typ == 3 and count == 1:
                out += struct.pack("<HHIHH", tag, typ, count, value, 0)
            else:
                out += struct.pack("<HHII", tag, typ, count, value)
        out += b"\0\0\0\0"  # next IFD, patched below
    struct.pack_into("<I", out, 4, ifd_at[0])
    for a, b in zip(ifd_at, ifd_at[1:]):
        n = struct.unpack_from("<H", out, a)[0]
        struct.pack_into("<I", out, a + 2 + 12 * n, b)
    return bytes(out)


def documents():
    g = gray(16, 16)
    docs = {
        "pdf-gray-raw": image_pdf(b"/Width 16 /Height 16 /ColorSpace /DeviceGray "
                                  b"/BitsPerComponent 8", g),
        "pdf-gray-flate": image_pdf(b"/Width 16 /Height 16 /ColorSpace /DeviceGray "
                                    b"/BitsPerComponent 8 /Filter /FlateDecode", zlib.compress(g)),
        "pdf-rgb-two-pages-rotated": image_pdf(
            b"/Width 8 /Height 4 /ColorSpace /DeviceRGB /BitsPerComponent 8", bytes(range(96)),
            pages=2, rotate=90, cm=b"0 144 -144 0 144 0"),
        "pdf-mask-decode": image_pdf(b"/Width 16 /Height 8 /ImageMask true /Decode [1 0]",
                                     bytes(range(16))),
        "pdf-indexed-4bit": image_pdf(
            b"/Width 8 /Height 8 /ColorSpace [/Indexed /DeviceRGB 3 <ff000000ff000000ff000000>] "
            b"/BitsPerComponent 4", bytes(range(32))),
        "pdf-cmyk-16bit": image_pdf(b"/Width 4 /Height 4 /ColorSpace /DeviceCMYK "
                                    b"/BitsPerComponent 16", bytes(128)),
        "pdf-iccbased-flipped": image_pdf(
            b"/Width 4 /Height 4 /ColorSpace [/ICCBased 4 0 R] /BitsPerComponent 8",
            bytes(48), cm=b"144 0 0 -144 0 144"),
        "pdf-huge-width-height": image_pdf(b"/Width 60000 /Height 60000 /ColorSpace /DeviceGray "
                                           b"/BitsPerComponent 8 /Filter /FlateDecode",
                                           zlib.compress(bytes(4096))),
        "pdf-encrypted": image_pdf(b"/Width 16 /Height 16 /ColorSpace /DeviceGray "
                                   b"/BitsPerComponent 8", g,
                                   trailer_extra=b"/Encrypt << /Filter /Standard /V 2 /R 3 "
                                   b"/Length 128 /O <00> /U <00> /P -4 >> /ID [<01> <01>] "),
        "pdf-visible-text": image_pdf(b"/Width 16 /Height 16 /ColorSpace /DeviceGray "
                                      b"/BitsPerComponent 8", g,
                                      extra_content=b" BT /F0 12 Tf 3 Tr (ab) Tj 0 Tr (c) Tj ET"),
    }
    # Decoders that size their output from their own parameters (JBIG2 page information,
    # CCITT /Columns, the JPEG 2000 codestream's SIZ marker).
    page_info = struct.pack(">IIIIBH", 16, 16, 0, 0, 0, 0)
    jbig2 = struct.pack(">IBBBI", 0, 48, 0, 1, len(page_info)) + page_info
    jbig2 += struct.pack(">IBBBI", 1, 49, 0, 1, 0)
    docs["pdf-jbig2"] = image_pdf(b"/Width 16 /Height 16 /ColorSpace /DeviceGray "
                                  b"/BitsPerComponent 1 /Filter /JBIG2Decode", jbig2)
    docs["pdf-ccitt-g4"] = image_pdf(b"/Width 16 /Height 4 /ColorSpace /DeviceGray "
                                     b"/BitsPerComponent 1 /Filter /CCITTFaxDecode "
                                     b"/DecodeParms << /K -1 /Columns 16 /Rows 4 >>",
                                     bytes([0x26, 0xA0, 0x00, 0x10, 0x01]))
    siz = struct.pack(">HIIIIIIIIH", 0, 16, 16, 0, 0, 16, 16, 0, 0, 1) + bytes([7, 1, 1])
    cod = bytes([0, 0, 0, 1, 0, 1, 4, 4, 0, 0])
    qcd = bytes([0x40]) + bytes([0x48] * 4)
    jpx = (b"\xff\x4f\xff\x51" + struct.pack(">H", 2 + len(siz)) + siz
           + b"\xff\x52" + struct.pack(">H", 2 + len(cod)) + cod
           + b"\xff\x5c" + struct.pack(">H", 2 + len(qcd)) + qcd
           + b"\xff\x90" + struct.pack(">HHIBB", 10, 0, 0, 0, 1) + b"\xff\x93" + bytes(16)
           + b"\xff\xd9")
    docs["pdf-jpx"] = image_pdf(b"/Width 16 /Height 16 /ColorSpace /DeviceGray "
                                b"/BitsPerComponent 8 /Filter /JPXDecode", jpx)
    docs["pdf-truncated"] = docs["pdf-gray-flate"][: len(docs["pdf-gray-flate"]) * 2 // 3]
    docs["tiff-gray"] = tiff([(16, 16, 1, 8, g)])
    docs["tiff-three-pages"] = tiff([(16, 16, 1, 8, g), (4, 4, 3, 8, bytes(range(48))),
                                     (16, 2, 1, 1, bytes(4))])
    docs["tiff-rgba-16bit"] = tiff([(2, 2, 4, 16, bytes(range(32)))])
    try:
        from PIL import Image
        img = Image.frombytes("L", (16, 16), g)
        jpeg = io.BytesIO()
        img.convert("RGB").save(jpeg, "JPEG")
        docs["pdf-dct"] = image_pdf(b"/Width 16 /Height 16 /ColorSpace /DeviceRGB "
                                    b"/BitsPerComponent 8 /Filter /DCTDecode", jpeg.getvalue())
        png = io.BytesIO()
        img.save(png, "PNG")
        docs["png"] = png.getvalue()
    except ImportError:
        pass
    return docs


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/document"
    os.makedirs(out, exist_ok=True)
    for name, doc in documents().items():
        for k, script in enumerate(SCRIPTS):
            with open(os.path.join(out, "%s-s%d" % (name, k)), "wb") as f:
                f.write(struct.pack("<H", len(script)) + script + doc)


if __name__ == "__main__":
    main()
