//! Write endpoints for groups, members, sharing and users.

use portal_sim::model::Group;
use portal_sim::Login;
use serde_json::{json, Value};

use crate::common::{
    client, error_code, error_message, post_form, post_multipart, raw, rest, restore_config, sign_in, start,
};

/// An invitation entry as the restore sends it.
fn invitation(username: &str, role: &str) -> Value {
    json!({
        "username": username, "password": format!("pw-{username}-9"), "firstname": "Ada", "lastname": "Byron",
        "fullname": "Ada Byron", "email": format!("{username}@example.com"), "role": role,
        "userLicenseType": "creatorUT", "userType": "creatorUT",
    })
}

#[tokio::test]
async fn groups_members_and_sharing() {
    let sim = start(restore_config()).await;
    let http = client();
    let org = &sim.orgs[1];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let root = format!("{}/sharing/rest", org.portal_url);
    let me = org.admin.username.clone();

    let thumb = vec![137u8, 80, 78, 71, 1, 2, 3];
    let created = post_multipart(
        &http,
        &format!("{root}/community/createGroup"),
        &token,
        &[
            ("title", "Field Crew"),
            ("access", "org"),
            ("tags", "ops,field"),
            ("description", "d"),
            ("snippet", "s"),
            ("isInvitationOnly", "true"),
            ("sortField", "modified"),
            ("sortOrder", "desc"),
            ("capabilities", "updateitemcontrol"),
        ],
        vec![("thumbnail", "crew.png", thumb.clone())],
    )
    .await;
    assert_eq!(created["success"], true, "createGroup succeeds: {created}");
    let gid = created["group"]["id"].as_str().expect("group id").to_owned();
    assert_eq!(created["group"]["owner"], me.as_str(), "the caller owns the new group");
    let dup = post_form(
        &http,
        &format!("{root}/community/createGroup"),
        &token,
        &[("title", "field crew"), ("access", "org")],
    )
    .await;
    assert_eq!(error_code(&dup), Some(400), "a group title is unique in the org: {dup}");
    assert!(error_message(&dup).contains("You already have a group named"), "Online's message: {dup}");

    let g = rest(&http, &org.portal_url, &format!("community/groups/{gid}"), Some(&token), &[]).await;
    assert_eq!(
        (g["title"].clone(), g["isInvitationOnly"].clone()),
        (json!("Field Crew"), json!(true)),
        "group JSON: {g}"
    );
    assert_eq!(g["capabilities"], json!(["updateitemcontrol"]), "capabilities read back");
    let got = raw(&http, &format!("{root}/community/groups/{gid}/info/crew.png"), Some(&token)).await;
    assert_eq!(got.bytes().await.expect("thumbnail").to_vec(), thumb, "the uploaded group thumbnail is served");
    let search =
        rest(&http, &org.portal_url, "community/groups", Some(&token), &[("q", &format!("orgid:{}", org.id))]).await;
    assert_eq!(search["total"], 1, "group search sees the new group: {search}");

    // 26 accounts: one more than addUsers takes at once.
    let names: Vec<String> = (0..26).map(|i| format!("crew{i:02}_restored")).collect();
    let list = json!({ "invitations": names.iter().map(|n| invitation(n, "org_user")).collect::<Vec<_>>() });
    let inv =
        post_form(&http, &format!("{root}/portals/self/invite"), &token, &[("invitationList", &list.to_string())])
            .await;
    assert_eq!(inv["notInvited"], json!([]), "every new username is invited: {inv}");

    let all = names.join(",");
    let too_many =
        post_form(&http, &format!("{root}/community/groups/{gid}/addUsers"), &token, &[("users", &all)]).await;
    assert_eq!(error_code(&too_many), Some(400), "26 users in one addUsers call are refused: {too_many}");
    let members = rest(&http, &org.portal_url, &format!("community/groups/{gid}/users"), Some(&token), &[]).await;
    assert_eq!(members["users"], json!([]), "a refused addUsers adds nobody");
    let first25 = names[..25].join(",");
    let ok = post_form(&http, &format!("{root}/community/groups/{gid}/addUsers"), &token, &[("users", &first25)]).await;
    assert_eq!(ok["notAdded"], json!([]), "25 users are added: {ok}");
    let with_unknown = format!("{},nobody_here", names[25]);
    let partly =
        post_form(&http, &format!("{root}/community/groups/{gid}/addUsers"), &token, &[("users", &with_unknown)]).await;
    assert_eq!(partly["notAdded"], json!(["nobody_here"]), "unknown users come back in notAdded: {partly}");
    let members = rest(&http, &org.portal_url, &format!("community/groups/{gid}/users"), Some(&token), &[]).await;
    assert_eq!(members["users"].as_array().map(Vec::len), Some(26), "all 26 are members: {members}");

    // Reassign: to the current owner refused (clients must skip), to another user done.
    let same =
        post_form(&http, &format!("{root}/community/groups/{gid}/reassign"), &token, &[("targetUsername", &me)]).await;
    assert_eq!(error_code(&same), Some(400), "reassigning to the owner is refused: {same}");
    assert!(error_message(&same).contains("already the owner"), "with Online's message: {same}");
    let moved =
        post_form(&http, &format!("{root}/community/groups/{gid}/reassign"), &token, &[("targetUsername", &names[0])])
            .await;
    assert_eq!(moved["success"], true, "reassign to a member succeeds: {moved}");
    let members = rest(&http, &org.portal_url, &format!("community/groups/{gid}/users"), Some(&token), &[]).await;
    assert_eq!(members["owner"], names[0].as_str(), "the new owner owns it: {members}");
    assert!(
        members["users"].as_array().expect("users").iter().any(|u| u == me.as_str()),
        "the previous owner stays a member: {members}"
    );

    // `admins` makes group managers (a member is promoted); removeUsers lets people leave, never the owner.
    let groups_url = format!("{root}/community/groups/{gid}");
    let promoted = post_form(&http, &format!("{groups_url}/addUsers"), &token, &[("admins", &names[1])]).await;
    assert_eq!(promoted["notAdded"], json!([]), "a member is promoted: {promoted}");
    let removed = post_form(
        &http,
        &format!("{groups_url}/removeUsers"),
        &token,
        &[("users", &format!("{me},{},{}", names[0], names[2]))],
    )
    .await;
    assert_eq!(removed["notRemoved"], json!([names[0]]), "the owner cannot be removed: {removed}");
    let members = rest(&http, &org.portal_url, &format!("community/groups/{gid}/users"), Some(&token), &[]).await;
    // As on Online, the owner is listed among the admins.
    assert_eq!(members["admins"], json!([names[0], names[1]]), "the promoted member manages the group: {members}");
    let users = members["users"].as_array().expect("users");
    assert!(
        !users.iter().any(|u| u == me.as_str() || u == names[2].as_str()),
        "the removed members are gone: {members}"
    );
    assert_eq!(users.len(), 23, "the other members stay: {members}");
    let empty = post_form(&http, &format!("{groups_url}/addUsers"), &token, &[]).await;
    assert_eq!(error_code(&empty), Some(400), "addUsers with nobody is refused: {empty}");

    // Sharing into the group shows in group content; everyone=true makes an item public.
    let user_root = format!("{root}/content/users/{me}");
    let a =
        post_form(&http, &format!("{user_root}/addItem"), &token, &[("title", "Shared CSV"), ("type", "CSV")]).await;
    let b =
        post_form(&http, &format!("{user_root}/addItem"), &token, &[("title", "Public CSV"), ("type", "CSV")]).await;
    let (a, b) = (a["id"].as_str().expect("a").to_owned(), b["id"].as_str().expect("b").to_owned());
    let shared = post_form(
        &http,
        &format!("{user_root}/shareItems"),
        &token,
        &[
            ("items", &a),
            ("groups", &format!("{gid},00000000000000000000000000000000")),
            ("everyone", "false"),
            ("org", "false"),
        ],
    )
    .await;
    assert_eq!(shared["results"][0]["success"], true, "sharing succeeds: {shared}");
    assert_eq!(
        shared["results"][0]["notSharedWith"],
        json!(["00000000000000000000000000000000"]),
        "an unknown group is reported in notSharedWith"
    );
    let content = rest(&http, &org.portal_url, &format!("content/groups/{gid}/search"), Some(&token), &[]).await;
    assert_eq!(content["total"], 0, "a group's content search lags behind the share: {content}");
    sim.control().index_now();
    let content = rest(&http, &org.portal_url, &format!("content/groups/{gid}/search"), Some(&token), &[]).await;
    assert_eq!(content["total"], 1, "once indexed, group content lists the shared item: {content}");
    assert_eq!(content["results"][0]["id"], a.as_str(), "the shared item");
    let owner_view = rest(&http, &org.portal_url, &format!("content/users/{me}/items/{a}"), Some(&token), &[]).await;
    assert_eq!(owner_view["sharing"], json!({ "access": "shared", "groups": [gid] }), "sharing as an admin sees it");
    let public =
        post_form(&http, &format!("{user_root}/shareItems"), &token, &[("items", &b), ("everyone", "true")]).await;
    assert_eq!(public["results"][0]["success"], true, "everyone=true: {public}");
    let anonymous = rest(&http, &org.portal_url, &format!("content/items/{b}"), None, &[]).await;
    assert_eq!(anonymous["access"], "public", "a public item is readable anonymously: {anonymous}");
}

#[tokio::test]
async fn invited_and_created_users_sign_in() {
    let sim = start(restore_config()).await;
    let http = client();
    let org = &sim.orgs[1];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let root = format!("{}/sharing/rest", org.portal_url);
    let taken_elsewhere = sim.orgs[0].user.username.clone();

    let list = json!({ "invitations": [invitation("ada_restored", "org_publisher"), invitation(&taken_elsewhere, "org_user")] });
    let inv =
        post_form(&http, &format!("{root}/portals/self/invite"), &token, &[("invitationList", &list.to_string())])
            .await;
    assert_eq!(inv["success"], true, "invite answers success: {inv}");
    assert_eq!(inv["notInvited"], json!([taken_elsewhere]), "a username taken anywhere is not invited: {inv}");
    let ada = Login { username: "ada_restored".into(), password: "pw-ada_restored-9".into() };
    let ada_token = sign_in(&http, &org.portal_url, &ada).await;
    let me = rest(&http, &org.portal_url, "community/self", Some(&ada_token), &[]).await;
    assert_eq!(me["role"], "org_publisher", "the invited role is the user's role: {me}");
    assert_eq!(me["fullName"], "Ada Byron", "the full name is kept");

    let users =
        rest(&http, &org.portal_url, "portals/self/users/search", Some(&token), &[("q", "username:ada_restored")])
            .await;
    assert_eq!(users["total"], 1, "users search sees the new user: {users}");

    let denied =
        post_form(&http, &format!("{root}/portals/self/invite"), &ada_token, &[("invitationList", &list.to_string())])
            .await;
    assert_eq!(error_code(&denied), Some(403), "a publisher may not invite: {denied}");

    let admin_url = format!("{}/portaladmin/security/users/createUser", org.portal_url);
    let form = [
        ("username", "grace_restored"),
        ("password", "grace-pw-12"),
        ("firstname", "Grace"),
        ("lastname", "Hopper"),
        ("email", "g@example.com"),
        ("role", "org_admin"),
        ("userLicenseTypeId", "GISProfessionalAdvUT"),
    ];
    let created = post_form(&http, &admin_url, &token, &form).await;
    assert_eq!(created["status"], "success", "createUser succeeds: {created}");
    let again = post_form(&http, &admin_url, &token, &form).await;
    assert_eq!(again["status"], "error", "an existing username is refused: {again}");
    let grace =
        sign_in(&http, &org.portal_url, &Login { username: "grace_restored".into(), password: "grace-pw-12".into() })
            .await;
    let me = rest(&http, &org.portal_url, "community/self", Some(&grace), &[]).await;
    assert_eq!(
        (me["role"].clone(), me["userLicenseTypeId"].clone()),
        (json!("org_admin"), json!("GISProfessionalAdvUT")),
        "{me}"
    );

    let changed = post_form(
        &http,
        &format!("{root}/portals/self/updateuserrole"),
        &token,
        &[("user", "ada_restored"), ("role", "org_user")],
    )
    .await;
    assert_eq!(changed["success"], true, "updateuserrole succeeds: {changed}");
    let ada_now = rest(&http, &org.portal_url, "community/users/ada_restored", Some(&token), &[]).await;
    assert_eq!(ada_now["role"], "org_user", "the role changed: {ada_now}");
}

#[tokio::test]
async fn nobody_joins_more_than_512_groups() {
    let sim = start(restore_config()).await;
    let http = client();
    let org = &sim.orgs[1];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let root = format!("{}/sharing/rest", org.portal_url);
    let user = org.user.username.clone();
    // 512 memberships are set up in the model directly: 512 HTTP calls would only slow the suite.
    {
        let mut universe = sim.state.universe.write().expect("lock");
        let o = universe.org_by_url_key_mut(&org.url_key).expect("org");
        for i in 0..512 {
            let id = format!("{i:032x}");
            let group = Group {
                id: id.clone(),
                title: format!("Bulk {i}"),
                owner: user.clone(),
                admins: vec![],
                users: vec![],
                access: "org".into(),
                tags: vec![],
                description: String::new(),
                snippet: String::new(),
                is_invitation_only: false,
                is_view_only: false,
                sort_field: "title".into(),
                sort_order: "asc".into(),
                capabilities: vec![],
                auto_join: false,
                thumbnail: None,
                thumbnail_bytes: None,
                created: 0,
                modified: 0,
            };
            o.groups.insert(id, group);
        }
    }
    let g =
        post_form(&http, &format!("{root}/community/createGroup"), &token, &[("title", "One More"), ("access", "org")])
            .await;
    let gid = g["group"]["id"].as_str().unwrap_or_else(|| panic!("the admin may create a group: {g}")).to_owned();
    let add = post_form(&http, &format!("{root}/community/groups/{gid}/addUsers"), &token, &[("users", &user)]).await;
    assert_eq!(add["notAdded"], json!([user]), "a user in 512 groups is not added to a 513th: {add}");
    let reassign =
        post_form(&http, &format!("{root}/community/groups/{gid}/reassign"), &token, &[("targetUsername", &user)])
            .await;
    assert_eq!(error_code(&reassign), Some(400), "nor can a 513th group be given to them: {reassign}");
    let user_token = sign_in(&http, &org.portal_url, &org.user).await;
    let own = post_form(
        &http,
        &format!("{root}/community/createGroup"),
        &user_token,
        &[("title", "Mine"), ("access", "org")],
    )
    .await;
    assert_eq!(error_code(&own), Some(400), "nor may they create one: {own}");
    assert!(error_message(&own).contains("512"), "the message names the limit: {own}");
}
