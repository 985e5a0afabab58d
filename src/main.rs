fn main() -> miette::Result<()> {
    let p = std::env::args().nth(1).unwrap();
    let l = roster::config::load(std::path::Path::new(&p))?;
    println!("{:?}", l.config);
    Ok(())
}
