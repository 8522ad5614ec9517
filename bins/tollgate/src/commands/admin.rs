//! `tollgate admin`: the operator's accounts and credit top-ups (Tollgate
//! only; needs the admin key).

use crate::cli::{AccountsCommand, AdminArgs, AdminCommand};
use crate::config::Settings;
use crate::output::{self, usd};

/// Runs `tollgate admin ...`.
pub async fn run(settings: &Settings, args: AdminArgs, json: bool) -> anyhow::Result<()> {
    let admin = settings.admin_key(args.admin_key.as_deref())?;
    let client = settings.client_with(None)?;
    match args.command {
        AdminCommand::Accounts(AccountsCommand::Create { name }) => {
            let created = client.admin_create_account(&admin, &name).await?;
            if json {
                return output::json(&created);
            }
            output::print_fields(&[
                ("Account", created.data.id.clone()),
                ("Name", created.data.name.clone()),
                ("Provisioning key", output::bold(&created.provisioning_key)),
                ("API key", output::bold(&created.api_key)),
            ])?;
            eprintln!(
                "{}",
                output::dim("Store these keys now: they are not shown again.")
            );
            Ok(())
        }
        AdminCommand::Accounts(AccountsCommand::List) => {
            let accounts = client.admin_accounts(&admin).await?;
            if json {
                return output::json_data(&accounts);
            }
            let rows = accounts
                .iter()
                .map(|a| vec![a.id.clone(), a.name.clone(), a.created_at.clone()])
                .collect();
            output::print_table(&["ID", "NAME", "CREATED"], rows, &[])
        }
        AdminCommand::Accounts(AccountsCommand::Get { id }) => {
            let a = client.admin_account(&admin, &id).await?;
            if json {
                return output::json_data(&a);
            }
            let mut fields = vec![
                ("Account", a.id.clone()),
                ("Name", a.name.clone()),
                ("Created", a.created_at.clone()),
            ];
            if let Some(b) = &a.balance {
                fields.extend([
                    ("Credits", usd(b.total_credits)),
                    ("Used", usd(b.total_usage)),
                    ("Held", usd(b.held)),
                    ("Available", output::green(&usd(b.available))),
                ]);
            }
            output::print_fields(&fields)
        }
        AdminCommand::Credits {
            account,
            amount,
            note,
        } => {
            let top_up = client
                .admin_add_credits(&admin, &account, amount, note.as_deref())
                .await?;
            if json {
                return output::json_data(&top_up);
            }
            outln!(
                "added {} to {account}: {} available ({} bought, {} used)",
                usd(top_up.entry.amount),
                usd(top_up.balance.available),
                usd(top_up.balance.total_credits),
                usd(top_up.balance.total_usage),
            )?;
            Ok(())
        }
    }
}
