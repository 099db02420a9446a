//! `template.yaml` follows AWS's advice for SQS-driven functions and least privilege, and declares
//! the table the code expects.

use e2e::{referenced_resource, root, template, template_problems};
use serde_yaml::Value;
use sync_shared::Job;
use sync_shared::store::schema;

#[test]
fn template_has_no_problems() {
    assert_eq!(template_problems(&template()), Vec::<String>::new());
}

fn resource<'a>(template: &'a mut Value, name: &str) -> &'a mut Value {
    &mut template["Resources"][name]["Properties"]
}

#[test]
fn a_queue_without_dead_letter_queue_is_caught() {
    let mut t = template();
    if let Some(props) = resource(&mut t, "SetupQueue").as_mapping_mut() {
        props.remove("RedrivePolicy");
    }
    let problems = template_problems(&t);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("SetupQueue has no dead-letter queue")),
        "{problems:?}"
    );
}

#[test]
fn a_receive_count_under_five_is_caught() {
    let mut t = template();
    resource(&mut t, "SetupQueue")["RedrivePolicy"]["maxReceiveCount"] = Value::from(4);
    let problems = template_problems(&t);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("maxReceiveCount 4, under 5")),
        "{problems:?}"
    );
}

#[test]
fn a_visibility_under_six_timeouts_is_caught() {
    let mut t = template();
    resource(&mut t, "SetupQueue")["VisibilityTimeout"] = Value::from(359);
    let problems = template_problems(&t);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("visibility 359 s, under 6 x")),
        "{problems:?}"
    );
}

#[test]
fn a_wildcard_resource_is_caught() {
    let mut t = template();
    let statements = &mut resource(&mut t, "SetupFunction")["Policies"][0]["Statement"];
    if let Some(list) = statements.as_sequence_mut() {
        let mut open = list[0].clone();
        open["Resource"] = Value::from("*");
        list.push(open);
    }
    let problems = template_problems(&t);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("SetupFunction has a wildcard Resource")),
        "{problems:?}"
    );
}

#[test]
fn a_dead_letter_queue_without_alarm_is_caught() {
    let mut t = template();
    if let Some(resources) = t["Resources"].as_mapping_mut() {
        resources.remove("SetupDeadLetterAlarm");
    }
    let problems = template_problems(&t);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("SetupDeadLetterQueue has no CloudWatch alarm")),
        "{problems:?}"
    );
}

#[test]
fn the_table_matches_the_code() {
    let t = template();
    let table = &t["Resources"]["Table"]["Properties"];
    let keys: Vec<(&str, &str)> = table["KeySchema"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap_or(""),
                k["KeyType"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(keys, [(schema::PK, "HASH"), (schema::SK, "RANGE")]);
    let index = |name: &str| {
        table["GlobalSecondaryIndexes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|i| i["IndexName"].as_str() == Some(name))
            .map(|i| {
                i["KeySchema"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .map(|k| k["AttributeName"].as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
            })
    };
    assert_eq!(
        index(schema::BY_STATE_INDEX),
        Some(vec![schema::STATE_ATTR.into(), schema::PK.into()])
    );
    assert_eq!(
        index(schema::BY_TENANT_INDEX),
        Some(vec![schema::TENANT_ATTR.into(), schema::PK.into()])
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(schema::TTL_ATTR)
    );
}

#[test]
fn every_job_has_a_schedule_a_queue_and_a_worker() {
    let t = template();
    let scheduler = &t["Resources"]["SchedulerFunction"]["Properties"];
    for job in Job::ALL {
        let queue =
            referenced_resource(&scheduler["Environment"]["Variables"][job.queue_url_env()])
                .unwrap_or_else(|| panic!("the scheduler has no {} variable", job.queue_url_env()));
        let scheduled = scheduler["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .any(|(_, e)| {
                e["Properties"]["Input"]
                    .as_str()
                    .and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok())
                    .is_some_and(|i| i["job"] == job.as_str())
            });
        assert!(scheduled, "no schedule names job {job}");
        let consumed = t["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
            .any(|(_, r)| {
                r["Properties"]["Events"]
                    .as_mapping()
                    .into_iter()
                    .flatten()
                    .any(|(_, e)| {
                        e["Type"].as_str() == Some("SQS")
                            && referenced_resource(&e["Properties"]["Queue"]) == Some(queue.clone())
                    })
            });
        assert!(consumed, "no function consumes {queue}");
    }
}

/// The functions that consume `queue` through an SQS event, with that event.
fn consumers(t: &Value, queue: &str) -> Vec<(String, Value, Value)> {
    t["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .flat_map(|(name, r)| {
            r["Properties"]["Events"]
                .as_mapping()
                .into_iter()
                .flatten()
                .filter(|(_, e)| {
                    e["Type"].as_str() == Some("SQS")
                        && referenced_resource(&e["Properties"]["Queue"]).as_deref() == Some(queue)
                })
                .map(|(_, e)| {
                    (
                        name.as_str().unwrap_or_default().to_string(),
                        r.clone(),
                        e.clone(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_job_with_an_apply_queue_has_a_planner_that_sends_to_it_and_a_bounded_applier() {
    let t = template();
    let resources = t["Resources"].as_mapping().cloned().unwrap_or_default();
    let mut checked = 0;
    for job in Job::ALL {
        let Some(variable) = job.apply_queue_url_env() else {
            continue;
        };
        let queue = referenced_resource(
            &t["Resources"]["SchedulerFunction"]["Properties"]["Environment"]["Variables"]
                [job.queue_url_env()],
        )
        .unwrap_or_else(|| panic!("no queue for {job}"));
        let planners = consumers(&t, &queue);
        assert_eq!(planners.len(), 1, "one planner consumes {queue}");
        let (planner, planner_resource, _) = &planners[0];
        let apply_queue = referenced_resource(
            &planner_resource["Properties"]["Environment"]["Variables"][variable],
        )
        .unwrap_or_else(|| panic!("{planner} has no {variable}"));
        assert_eq!(
            resources
                .iter()
                .find(|(n, _)| n.as_str() == Some(apply_queue.as_str()))
                .map(|(_, r)| r["Type"].as_str() == Some("AWS::SQS::Queue")),
            Some(true),
            "{variable} names the queue {apply_queue}"
        );
        let sends = planner_resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default())
            .any(|s| {
                s["Action"].as_str() == Some("sqs:SendMessage")
                    && referenced_resource(&s["Resource"]).as_deref() == Some(apply_queue.as_str())
            });
        assert!(sends, "{planner} may not send to {apply_queue}");

        let appliers = consumers(&t, &apply_queue);
        assert_eq!(appliers.len(), 1, "one applier consumes {apply_queue}");
        let (applier, _, event) = &appliers[0];
        assert_ne!(applier, planner);
        assert_eq!(
            event["Properties"]["ScalingConfig"]["MaximumConcurrency"].as_u64(),
            Some(local_runner::APPLY_MAX_CONCURRENCY as u64),
            "{applier}'s MaximumConcurrency is what local-run's drain_apply plays"
        );
        checked += 1;
    }
    assert!(checked > 0, "some job plans and applies");
}

#[test]
fn every_schedule_rate_is_a_template_parameter() {
    let t = template();
    let scheduler = &t["Resources"]["SchedulerFunction"]["Properties"];
    for job in Job::ALL {
        let (_, schedule) = scheduler["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .find(|(_, e)| {
                e["Properties"]["Input"]
                    .as_str()
                    .and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok())
                    .is_some_and(|i| i["job"] == job.as_str())
            })
            .unwrap_or_else(|| panic!("no schedule names job {job}"));
        assert_eq!(schedule["Type"].as_str(), Some("ScheduleV2"));
        let input: serde_json::Value =
            serde_json::from_str(schedule["Properties"]["Input"].as_str().unwrap_or_default())
                .expect("input");
        assert_eq!(
            input["scheduled_time"], "<aws.scheduler.scheduled-time>",
            "{job}'s schedule passes its scheduled time"
        );
        let camel: String = job
            .as_str()
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let parameter = format!("{camel}ScheduleRate");
        assert_eq!(
            referenced_resource(&schedule["Properties"]["ScheduleExpression"]).as_deref(),
            Some(parameter.as_str()),
            "{job}'s schedule takes its rate from the parameter {parameter}"
        );
        let default = t["Parameters"][parameter.as_str()]["Default"]
            .as_str()
            .unwrap_or_else(|| panic!("parameter {parameter} has no default"));
        assert!(
            default.starts_with("rate(") || default.starts_with("cron("),
            "{parameter}'s default {default} is a schedule expression"
        );
    }
}

/// The `--env-vars` file `scripts/local-stack.sh` writes for `sam local invoke`
/// (`write_sam_env`'s JSON, its shell variables replaced by placeholders): `Parameters` (every
/// function) and one object per function.
fn sam_env_file() -> serde_json::Map<String, serde_json::Value> {
    let script = std::fs::read_to_string(root().join("scripts/local-stack.sh")).expect("script");
    let function = script
        .split_once("write_sam_env() {")
        .map(|(_, rest)| rest)
        .expect("local-stack.sh defines write_sam_env");
    let body = function
        .split_once("<<JSON\n")
        .and_then(|(_, rest)| rest.split_once("\nJSON\n"))
        .map(|(json, _)| json)
        .expect("write_sam_env writes a <<JSON here-document");
    // `$name` and `${name}` → `x`.
    let mut json = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            json.push(c);
            continue;
        }
        if chars.peek() == Some(&'{') {
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
            }
        } else {
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                chars.next();
            }
        }
        json.push('x');
    }
    match serde_json::from_str(&json) {
        Ok(serde_json::Value::Object(file)) => file,
        other => panic!("write_sam_env's file is not a JSON object: {other:?}\n{json}"),
    }
}

/// `(function, variable)` of every variable of the SAM env file that `template` does not declare
/// for a function it targets (SAM drops those); an unknown function counts too.
fn undeclared_sam_variables(
    template: &Value,
    file: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    let functions: Vec<String> = template["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter_map(|(name, _)| name.as_str().map(str::to_string))
        .collect();
    let declared = |function: &str, variable: &str| {
        !template["Globals"]["Function"]["Environment"]["Variables"][variable].is_null()
            || !template["Resources"][function]["Properties"]["Environment"]["Variables"][variable]
                .is_null()
    };
    let mut undeclared = Vec::new();
    for (target, variables) in file {
        let targets = if target == "Parameters" {
            functions.clone()
        } else if functions.contains(target) {
            vec![target.clone()]
        } else {
            undeclared.push(format!("{target}: no such function"));
            continue;
        };
        for variable in variables.as_object().into_iter().flatten().map(|(v, _)| v) {
            for function in &targets {
                if !declared(function, variable) {
                    undeclared.push(format!("{function}: {variable}"));
                }
            }
        }
    }
    undeclared
}

/// SAM passes a function only the variables the template declares for it: every variable of
/// the `sam local invoke --env-vars` file (endpoints, Autotask's zone lookup, queues) is
/// declared for the functions it targets.
#[test]
fn every_variable_of_the_sam_env_file_is_declared_for_its_functions() {
    let file = sam_env_file();
    let parameters = file["Parameters"].as_object().expect("Parameters");
    for variable in sync_shared::aws::ENDPOINT_URL_VARIABLES
        .into_iter()
        .chain([sync_shared::autotask::ZONE_LOOKUP_URL_ENV])
    {
        assert!(
            parameters.contains_key(variable),
            "the SAM env file sets {variable}"
        );
    }
    assert!(file.len() > 1, "the file targets functions too: {file:?}");
    assert_eq!(
        undeclared_sam_variables(&template(), &file),
        Vec::<String>::new()
    );
}

/// The endpoint and zone-lookup variables the template declares are empty, which the functions
/// take as not set: deployed, they call AWS's endpoints and Autotask's official zone lookup.
#[test]
fn the_declared_endpoints_are_empty() {
    let t = template();
    for variable in sync_shared::aws::ENDPOINT_URL_VARIABLES
        .into_iter()
        .chain([sync_shared::autotask::ZONE_LOOKUP_URL_ENV])
    {
        assert_eq!(
            t["Globals"]["Function"]["Environment"]["Variables"][variable].as_str(),
            Some(""),
            "{variable}"
        );
    }
}

#[test]
fn an_undeclared_sam_variable_is_caught() {
    let mut t = template();
    if let Some(variables) = t["Globals"]["Function"]["Environment"]["Variables"].as_mapping_mut() {
        variables.remove("AWS_ENDPOINT_URL_SQS");
    }
    if let Some(variables) =
        t["Resources"]["UsageFunction"]["Properties"]["Environment"]["Variables"].as_mapping_mut()
    {
        variables.remove("USAGE_APPLY_QUEUE_URL");
    }
    let undeclared = undeclared_sam_variables(&t, &sam_env_file());
    assert!(
        undeclared.contains(&"SchedulerFunction: AWS_ENDPOINT_URL_SQS".to_string()),
        "{undeclared:?}"
    );
    assert!(
        undeclared.contains(&"UsageFunction: USAGE_APPLY_QUEUE_URL".to_string()),
        "{undeclared:?}"
    );
}
