mod schematic;
fn main() {}
