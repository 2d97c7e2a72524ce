//! The fonts every PNG chart and PDF report is drawn with: DejaVu, shipped in `fonts/`
//! (licence there) and compiled in, so the output does not depend on the machine's fonts.

/// DejaVu Sans, DejaVu Sans Bold, DejaVu Sans Mono.
pub static FONTS: [&[u8]; 3] = [
    include_bytes!("../../fonts/DejaVuSans.ttf"),
    include_bytes!("../../fonts/DejaVuSans-Bold.ttf"),
    include_bytes!("../../fonts/DejaVuSansMono.ttf"),
];
