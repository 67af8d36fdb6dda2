//! Runs the ConnectWise simulator as a standalone server.
//!
//! ```text
//! cargo run -p avesa-sim --example cw_sim -- [PORT] [SEED] [COMPANIES] [small|demo]
//! ```
//!
//! Companies are named `sim_msp_1`, `sim_msp_2`, …; their credentials are printed and
//! served at `GET /_sim/companies`.

use avesa_sim::{ConnectWiseSim, CwCompanySpec, CwSizes};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let port = arg(0, 8788) as u16;
    let seed = arg(1, 42);
    let companies = arg(2, 2);
    let sizes = match args.get(3).map(String::as_str) {
        Some("demo") => CwSizes::demo(),
        _ => CwSizes::small(),
    };
    let now =
        chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap_or_default();
    let sim = ConnectWiseSim::new();
    for n in 1..=companies {
        let spec = CwCompanySpec::new(format!("sim_msp_{n}"), seed + n, sizes.clone(), now);
        println!(
            "company {}: publicKey {} privateKey {} clientId {}",
            spec.company_id, spec.public_key, spec.private_key, spec.client_id
        );
        sim.add_company(spec);
    }
    let (addr, server) = sim.serve(([127, 0, 0, 1], port).into()).await?;
    println!("ConnectWise simulator at {}", ConnectWiseSim::api_base(addr));
    server.await.map_err(std::io::Error::other)
}
